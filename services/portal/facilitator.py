"""The facilitator's pages (prefix /facilitateur): dashboard, markets and lots (award, amendment), a lot's candidates
with one-click placement, beneficiary enrolment and pathway, monthly statement upload with progress and fixable
rejected rows.

Every page calls the services with the facilitator's own token. A refusal is shown next to the field (or the row)
it names; a service that does not answer empties only its part of the page, under a banner."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
import io
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from contracts.codes import ContractType, CriterionCode, ExitCategory, Gender, LotStatus, Modality
from services.portal import labels
from services.portal.clients import SERVICE_LABELS, ServiceError, Services, ServicesDep, ServiceUnavailable
from services.portal.rendering import NAV, fr_number, redirect, render
from services.portal.session import FacilitatorForm, FacilitatorSession, UserSession
from shared.auth import Role

log = logging.getLogger(__name__)
router = APIRouter(prefix="/facilitateur", include_in_schema=False)

for _entry in (("/facilitateur/marches", "Marchés"), ("/facilitateur/beneficiaires", "Personnes"),
               ("/facilitateur/releves", "Relevés d'heures")):
    if _entry not in NAV[Role.FACILITATOR]:
        NAV[Role.FACILITATOR].insert(len(NAV[Role.FACILITATOR]) - 1, _entry)

ENDING_SOON_DAYS = 92  # "ending in the next 3 months"
CANDIDATES_SHOWN = 10
UPLOAD_TIMEOUT_SECONDS = 900.0  # a million-row statement takes minutes to write
UPLOADS_KEPT = 50

# ---- French labels of the codes these pages show (sectors, lot statuses: labels.py, shared) ----------------------
MODALITY = {Modality.DIRECT_HIRE: "Embauche directe", Modality.PROVISION: "Mise à disposition",
            Modality.SUBCONTRACTING: "Sous-traitance", Modality.CO_CONTRACTING: "Cotraitance",
            Modality.TRAINING: "Formation"}
CONTRACT = {ContractType.CDI: "CDI", ContractType.CDD: "CDD", ContractType.CDDI: "CDDI (insertion)",
            ContractType.INTERIM: "Intérim", ContractType.PRO: "Contrat de professionnalisation",
            ContractType.APPRENTICESHIP: "Apprentissage", ContractType.OTHER: "Autre contrat"}
EXIT = {ExitCategory.DURABLE_JOB: "Emploi durable", ExitCategory.TRANSITION_JOB: "Emploi de transition",
        ExitCategory.POSITIVE_EXIT: "Sortie positive (formation…)", ExitCategory.OTHER: "Autre sortie",
        ExitCategory.UNKNOWN: "Situation inconnue"}
GENDER = {Gender.F: "Femme", Gender.M: "Homme"}
CRITERION = {
    CriterionCode.DELD: "Demandeur d'emploi de longue durée (12 mois et plus)",
    CriterionCode.DETLD: "Demandeur d'emploi de très longue durée (24 mois et plus)",
    CriterionCode.RSA: "Allocataire du RSA", CriterionCode.ASS: "Allocataire de l'ASS",
    CriterionCode.AAH: "Allocataire de l'AAH", CriterionCode.RQTH: "Reconnaissance de travailleur handicapé (RQTH)",
    CriterionCode.JEUNE_PEU_QUALIFIE: "Jeune de moins de 26 ans peu qualifié",
    CriterionCode.SENIOR_50: "Senior de 50 ans et plus demandeur d'emploi",
    CriterionCode.SIAE: "Salarié en parcours d'insertion (SIAE)", CriterionCode.GEIQ: "Parcours en GEIQ",
    CriterionCode.PLIE: "Suivi par un PLIE", CriterionCode.EA_ESAT: "Travailleur d'EA ou d'ESAT",
    CriterionCode.EPIDE_E2C: "Jeune sortant d'EPIDE ou d'école de la 2e chance",
    CriterionCode.REGIE: "Salarié de régie de quartier", CriterionCode.QPV: "Résident d'un quartier prioritaire (QPV)",
    CriterionCode.AUTRE_VALIDE: "Autre situation validée par le facilitateur",
}
EDUCATION = [("infra_3", "Sans diplôme (infra 3)"), ("3", "CAP, BEP (niveau 3)"), ("4", "Baccalauréat (niveau 4)"),
             ("5", "Bac + 2 (niveau 5)"), ("6", "Licence (niveau 6)"), ("7", "Master (niveau 7)"),
             ("8", "Doctorat (niveau 8)")]
LABELS = {"status": labels.LOT_STATUSES, "modality": MODALITY, "contract": CONTRACT, "exit": EXIT, "gender": GENDER,
          "criterion": CRITERION, "sector": labels.SECTORS, "education": dict(EDUCATION)}


# ---- small helpers ------------------------------------------------------------------------------------------------
def today() -> dt.date:
    return dt.date.today()


@dataclass
class FormState:
    """What a form shows again after a refusal: the values typed, the messages per field, the general message."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    detail: str | None = None


def refused(values: Mapping[str, Any], exc: ServiceError, shown: Collection[str]) -> FormState:
    """The service's per-field messages under the form's field names: the form's fields bear the API's names, and
    a check's field such as `criteria[0].prescriber` is the form's common `prescriber` field. When every message
    sits next to one of the `shown` fields, the message above the form only points to them."""
    errors: dict[str, str] = {}
    for name, message in exc.errors.items():
        errors.setdefault(name.rsplit(".", 1)[-1] if "]." in name else name, message)
    beside_fields = bool(errors) and all(name in shown for name in errors)
    return FormState(dict(values), errors, "Corrigez les champs signalés ci-dessous." if beside_fields else exc.detail)


def payload(form: FormData, names: tuple[str, ...]) -> dict[str, str]:
    """The form's non-empty fields among `names`, trimmed (an empty field means "not given")."""
    out = {}
    for name in names:
        value = form.get(name)
        if isinstance(value, str) and value.strip():
            out[name] = value.strip()
    return out


async def optional(call: Awaitable[Any], missing: str) -> tuple[Any, str | None]:
    """A part of a page: (answer, None), or (None, the French reason it is not shown) when the service refused with
    404 (`missing`) or does not answer."""
    try:
        return await call, None
    except ServiceUnavailable as exc:
        return None, f"{exc.label.capitalize()} ne répond pas pour le moment : cette partie est indisponible."
    except ServiceError as exc:
        if exc.status == 404:
            return None, missing
        return None, exc.detail


# ---- dashboard ----------------------------------------------------------------------------------------------------
def ending_soon(markets: list[dict[str, Any]], on: dt.date) -> list[dict[str, Any]]:
    """Awarded lots ending within ENDING_SOON_DAYS, soonest first, with their market's reference."""
    horizon = on + dt.timedelta(days=ENDING_SOON_DAYS)
    lots = [{**lot, "market_reference": m["reference"]} for m in markets for lot in m["lots"]
            if lot["status"] == LotStatus.AWARDED and on <= dt.date.fromisoformat(lot["end_date"]) <= horizon]
    return sorted(lots, key=lambda lot: (lot["end_date"], lot["market_reference"], lot["number"]))


async def dead_letters(services: Services, session: UserSession) -> list[dict[str, Any]]:
    """The services holding unresolved dead letters (the others are left out), with their newest ones."""
    async def one(name: str) -> dict[str, Any]:
        try:
            answer = await services.get(name, "/admin/dead-letters", session, params={"limit": 5})
            return {"service": SERVICE_LABELS[name], **answer}
        except (ServiceUnavailable, ServiceError):
            return {"service": SERVICE_LABELS[name], "pending": None, "items": []}

    found = await asyncio.gather(*(one(name) for name in SERVICE_LABELS))
    return [f for f in found if f["pending"] != 0]


async def open_markets(services: Services, session: UserSession) -> list[dict[str, Any]]:
    """The markets that may hold awarded lots still running: all lots awarded, or some still to award (the 200
    newest of each)."""
    pages = await asyncio.gather(*(services.get("market_intake", "/markets", session,
                                                params={"status": status, "limit": 200})
                                   for status in (LotStatus.AWARDED, LotStatus.SUBMITTED)))
    return [market for page in pages for market in page["items"]]


@router.get("")
async def dashboard(request: Request, session: FacilitatorSession, services: ServicesDep) -> Response:
    """Lots at risk (the hours service's forecast, as reporting projects it), lots ending soon (market_intake),
    the last imports (hours), and the dead letters of any service that has some."""
    (markets, markets_note), (report, report_note), (imports, imports_note), letters = await asyncio.gather(
        optional(open_markets(services, session), ""),
        optional(services.get("reporting", "/reports/annual", session, params={"year": today().year}), ""),
        optional(services.get("hours", "/hours/imports", session), ""),
        dead_letters(services, session),
    )
    return render(request, "facilitator/dashboard.html", {
        "at_risk": report["lots_at_risk"] if report else [], "report_note": report_note,
        "ending": ending_soon(markets, today()) if markets is not None else [], "markets_note": markets_note,
        "imports": (imports or [])[:5], "imports_note": imports_note,
        "dead_letters": letters, "labels": LABELS, "horizon_days": ENDING_SOON_DAYS,
    })


# ---- markets and lots ---------------------------------------------------------------------------------------------
@router.get("/marches")
async def markets(request: Request, session: FacilitatorSession, services: ServicesDep, reference: str = "",
                  statut: str = "", page: int = 1) -> Response:
    limit = 25
    page = max(page, 1)
    params: dict[str, Any] = {"offset": (page - 1) * limit, "limit": limit}
    if reference.strip():
        params["reference"] = reference.strip()[:100]
    if statut in {s.value for s in LotStatus}:
        params["status"] = statut
    found = await services.get("market_intake", "/markets", session, params=params)
    for item in found["items"]:
        item["owed_hours"] = sum((Decimal(lot["target_hours"]) for lot in item["lots"]), Decimal(0))
    return render(request, "facilitator/markets.html", {
        "markets": found["items"], "total": found["total"], "page": page, "pages": max(1, -(-found["total"] // limit)),
        "reference": reference, "statut": statut, "labels": LABELS,
    })


@router.get("/marches/{market_id}")
async def market(request: Request, market_id: uuid.UUID, session: FacilitatorSession,
                 services: ServicesDep) -> Response:
    found = await services.get("market_intake", f"/markets/{market_id}", session)
    return render(request, "facilitator/market.html", {"market": found, "labels": LABELS})


@dataclass
class LotForms:
    award: FormState = field(default_factory=FormState)
    amendment: FormState = field(default_factory=FormState)
    placements: dict[str, FormState] = field(default_factory=dict)  # per beneficiary id


async def beneficiary_names(services: Services, session: UserSession, ids: list[str]) -> dict[str, str]:
    """Display names of the candidates (matching shows them to facilitators only)."""
    async def one(beneficiary_id: str) -> tuple[str, str]:
        try:
            file = await services.get("matching", f"/beneficiaries/{beneficiary_id}", session)
        except ServiceError:
            return beneficiary_id, "Personne introuvable"
        identity = file.get("identity")
        return beneficiary_id, f"{identity['first_name']} {identity['last_name']}" if identity else "Identité effacée"

    return dict(await asyncio.gather(*(one(i) for i in ids)))


async def lot_page(request: Request, services: Services, session: UserSession, lot_id: uuid.UUID,
                   modality: str | None = None, forms: LotForms | None = None, status_code: int = 200) -> Response:
    lot = await services.get("market_intake", f"/lots/{lot_id}", session)
    params: dict[str, Any] = {"limit": CANDIDATES_SHOWN}
    if modality in {m.value for m in Modality}:
        params["modality"] = modality
    (market_, _), amendments, (progress, progress_note), (candidates, candidates_note) = await asyncio.gather(
        optional(services.get("market_intake", f"/markets/{lot['market_id']}", session), ""),
        services.get("market_intake", f"/lots/{lot_id}/amendments", session),
        optional(services.get("hours", f"/lots/{lot_id}/progress", session),
                 "Le service des heures n'a pas encore reçu ce lot : aucune heure à afficher."),
        optional(services.get("matching", f"/lots/{lot_id}/candidates", session, params=params),
                 "Le service d'appariement n'a pas encore reçu ce lot : candidats indisponibles pour le moment."),
    )
    names = await beneficiary_names(services, session, [c["id"] for c in candidates["beneficiaries"]]) \
        if candidates else {}
    start = max(today(), dt.date.fromisoformat(lot["start_date"]))
    return render(request, "facilitator/lot.html", {
        "lot": lot, "market": market_, "amendments": amendments, "progress": progress, "progress_note": progress_note,
        "candidates": candidates, "candidates_note": candidates_note, "names": names,
        "modality": params.get("modality", ""), "forms": forms or LotForms(), "default_start": start.isoformat(),
        "labels": LABELS,
    }, status_code=status_code)


@router.get("/lots/{lot_id}")
async def lot(request: Request, lot_id: uuid.UUID, session: FacilitatorSession, services: ServicesDep,
              modalite: str = "") -> Response:
    return await lot_page(request, services, session, lot_id, modalite or None)


AWARD_FIELDS = ("company_siret", "company_name", "amount_eur", "start_date", "end_date")
AMENDMENT_FIELDS = ("amount_eur", "end_date", "reason")


async def change_lot(request: Request, services: Services, session: UserSession, lot_id: uuid.UUID, form_name: str,
                     path: str, fields: tuple[str, ...], done: Callable[[dict[str, Any]], str]) -> Response:
    """POST the form's fields to market_intake, then back to the lot page with `done(answer)` as message; when
    refused, the lot page again with the messages next to the fields of form `form_name`."""
    body = payload(await request.form(), fields)
    try:
        answer = await services.post("market_intake", path, session, json=body)
    except ServiceError as exc:
        if exc.status == 404:
            raise
        forms = LotForms(**{form_name: refused(body, exc, fields)})
        return await lot_page(request, services, session, lot_id, forms=forms, status_code=422)
    return redirect(f"/facilitateur/lots/{lot_id}", done(answer))


@router.post("/lots/{lot_id}/attribution")
async def award(request: Request, lot_id: uuid.UUID, session: FacilitatorForm, services: ServicesDep) -> Response:
    return await change_lot(request, services, session, lot_id, "award", f"/lots/{lot_id}/award", AWARD_FIELDS,
                            lambda done: f"Lot attribué à {done['lot']['company_name']} : "
                                         f"{fr_number(done['committed_hours'])} heures d'insertion dues.")


@router.post("/lots/{lot_id}/avenants")
async def amend(request: Request, lot_id: uuid.UUID, session: FacilitatorForm, services: ServicesDep) -> Response:
    return await change_lot(request, services, session, lot_id, "amendment", f"/lots/{lot_id}/amendments",
                            AMENDMENT_FIELDS,
                            lambda done: f"Avenant enregistré : {fr_number(done['committed_hours'])} heures "
                                         "d'insertion dues.")


PLACEMENT_FIELDS = ("beneficiary_id", "employer_siret", "structure_id", "modality", "contract_type", "start_date",
                    "end_date")


@router.post("/lots/{lot_id}/placements")
async def place(request: Request, lot_id: uuid.UUID, session: FacilitatorForm, services: ServicesDep) -> Response:
    form = await request.form()
    body: dict[str, Any] = payload(form, PLACEMENT_FIELDS)
    body.update(lot_id=str(lot_id), full_time=form.get("full_time") == "true")
    try:
        await services.post("matching", "/placements", session, json=body)
    except ServiceError as exc:
        state = refused(body, exc, PLACEMENT_FIELDS[1:])  # not the hidden beneficiary_id: its refusal goes above
        forms = LotForms(placements={str(body.get("beneficiary_id", "")): state})
        return await lot_page(request, services, session, lot_id, str(body.get("modality", "")) or None, forms, 422)
    return redirect(f"/facilitateur/beneficiaires/{body['beneficiary_id']}",
                    f"Parcours commencé le {dt.date.fromisoformat(body['start_date']):%d/%m/%Y} sur ce lot.")


# ---- beneficiaries ------------------------------------------------------------------------------------------------
PERSON_FIELDS = ("first_name", "last_name", "birth_date", "email", "phone", "gender", "commune_insee",
                 "education_level")
CHECK_FIELDS = ("checked_on", "prescriber", "proof_type")
ENROLMENT_FIELDS = (*PERSON_FIELDS, "criteria", *CHECK_FIELDS)  # those with a place for their message
END_FIELDS = ("end_date", "exit_category")
FOLLOW_UP_FIELDS = ("followed_up_on", "situation", "placement_id")


def criteria_payload(form: FormData) -> list[dict[str, str]]:
    """One check per criterion ticked, all seen by the same prescriber on the same day with the same proof."""
    common = payload(form, CHECK_FIELDS)
    return [{"code": code, **common} for code in form.getlist("criteria") if isinstance(code, str)]


def enrolment_context(state: FormState) -> dict[str, Any]:
    return {"form": state, "labels": LABELS, "education": EDUCATION, "today": today().isoformat()}


@router.get("/beneficiaires")
async def people(request: Request, session: FacilitatorSession, services: ServicesDep, q: str = "") -> Response:
    """Find a person by name, to open their pathway."""
    query = q.strip()[:100]
    found, error = None, None
    if len(query) >= 2:
        found = await services.get("matching", "/beneficiaries", session, params={"q": query})
    elif query:
        error = "Saisissez au moins 2 caractères du nom ou du prénom."
    return render(request, "facilitator/people.html", {"q": query, "found": found, "error": error})


@router.get("/beneficiaires/nouveau")
async def enrolment_form(request: Request, session: FacilitatorSession) -> Response:
    return render(request, "facilitator/enrol.html", enrolment_context(FormState({"checked_on": today().isoformat()})))


@router.post("/beneficiaires")
async def enrol(request: Request, session: FacilitatorForm, services: ServicesDep) -> Response:
    form = await request.form()
    body: dict[str, Any] = payload(form, PERSON_FIELDS)
    body.update(qpv=form.get("qpv") == "true", sectors=form.getlist("sectors"), criteria=criteria_payload(form))
    try:
        created = await services.post("matching", "/beneficiaries", session, json=body)
    except ServiceError as exc:
        values = {**body, **payload(form, CHECK_FIELDS), "qpv": form.get("qpv"), "criteria": form.getlist("criteria")}
        state = refused(values, exc, ENROLMENT_FIELDS)
        return render(request, "facilitator/enrol.html", enrolment_context(state), status_code=422)
    return redirect(f"/facilitateur/beneficiaires/{created['id']}",
                    f"{body['first_name']} {body['last_name']} est inscrit(e).")


async def pathway_page(request: Request, services: Services, session: UserSession, beneficiary_id: uuid.UUID,
                       forms: dict[str, FormState] | None = None, status_code: int = 200) -> Response:
    person = await services.get("matching", f"/beneficiaries/{beneficiary_id}", session)
    lots = await asyncio.gather(*(optional(services.get("market_intake", f"/lots/{p['lot_id']}", session), "")
                                  for p in person["placements"]))
    lot_titles = {p["lot_id"]: f"Lot {lot['number']} — {lot['title']}" if lot else "Lot"
                  for p, (lot, _) in zip(person["placements"], lots, strict=True)}
    identity = person["identity"]
    who = f"{identity['first_name']} {identity['last_name']}" if identity else "Identité effacée"
    return render(request, "facilitator/pathway.html", {
        "person": person, "who": who,
        "lot_titles": lot_titles, "forms": forms or {}, "empty_form": FormState(), "labels": LABELS,
        "today": today().isoformat(),
    }, status_code=status_code)


@router.get("/beneficiaires/{beneficiary_id}")
async def pathway(request: Request, beneficiary_id: uuid.UUID, session: FacilitatorSession,
                  services: ServicesDep) -> Response:
    return await pathway_page(request, services, session, beneficiary_id)


@router.post("/beneficiaires/{beneficiary_id}/criteres")
async def add_checks(request: Request, beneficiary_id: uuid.UUID, session: FacilitatorForm,
                     services: ServicesDep) -> Response:
    form = await request.form()
    checks = criteria_payload(form)
    try:
        await services.post("matching", f"/beneficiaries/{beneficiary_id}/criteria", session, json={"criteria": checks})
    except ServiceError as exc:
        values = {**payload(form, CHECK_FIELDS), "criteria": form.getlist("criteria")}
        forms = {"criteria": refused(values, exc, ("criteria", *CHECK_FIELDS))}
        return await pathway_page(request, services, session, beneficiary_id, forms, 422)
    return redirect(f"/facilitateur/beneficiaires/{beneficiary_id}", f"{len(checks)} critère(s) enregistré(s).")


@router.post("/beneficiaires/{beneficiary_id}/placements/{placement_id}/fin")
async def end_placement(request: Request, beneficiary_id: uuid.UUID, placement_id: uuid.UUID,
                        session: FacilitatorForm, services: ServicesDep) -> Response:
    body = payload(await request.form(), END_FIELDS)
    try:
        await services.post("matching", f"/placements/{placement_id}/end", session, json=body)
    except ServiceError as exc:
        forms = {f"end-{placement_id}": refused(body, exc, END_FIELDS)}
        return await pathway_page(request, services, session, beneficiary_id, forms, 422)
    exit_label = EXIT.get(ExitCategory(body["exit_category"]), body["exit_category"])
    return redirect(f"/facilitateur/beneficiaires/{beneficiary_id}", f"Parcours terminé : {exit_label}.")


@router.post("/beneficiaires/{beneficiary_id}/suivis")
async def follow_up(request: Request, beneficiary_id: uuid.UUID, session: FacilitatorForm,
                    services: ServicesDep) -> Response:
    body = payload(await request.form(), FOLLOW_UP_FIELDS)
    try:
        await services.post("matching", f"/beneficiaries/{beneficiary_id}/follow-ups", session, json=body)
    except ServiceError as exc:
        forms = {"follow_up": refused(body, exc, FOLLOW_UP_FIELDS)}
        return await pathway_page(request, services, session, beneficiary_id, forms, 422)
    return redirect(f"/facilitateur/beneficiaires/{beneficiary_id}", "Suivi enregistré.")


# ---- monthly statements -------------------------------------------------------------------------------------------
@dataclass
class Upload:
    """A statement being sent to the hours service by a background task of this portal process: the page polls it.
    The hours service checks every row before writing anything, then writes in chunks and counts them
    (`GET /hours/imports`), which the progress bar shows."""

    id: str
    owner: str
    filename: str
    started_at: dt.datetime
    data: bytes  # dropped once sent: only the rows to fix are kept
    task: asyncio.Task[None] | None = None
    answer: dict[str, Any] | None = None
    fixes: FixTable | None = None
    failure: str | None = None

    @property
    def done(self) -> bool:
        return self.answer is not None or self.failure is not None


def owner_of(session: UserSession) -> str:
    return hashlib.sha256(session.token.encode()).hexdigest()


def uploads(request: Request) -> dict[str, Upload]:
    state = request.app.state
    if not hasattr(state, "facilitator_uploads"):
        state.facilitator_uploads = {}
    return state.facilitator_uploads


async def send_statement(services: Services, session: UserSession, upload: Upload) -> None:
    """Valid rows are recorded, rejected ones come back with their row number, column and French reason."""
    try:
        answer = await services.post(
            "hours", "/hours/imports", session, files={"file": (upload.filename, upload.data)},
            data={"accept_valid_rows": "true"}, timeout=UPLOAD_TIMEOUT_SECONDS)
        upload.fixes = await asyncio.to_thread(fix_table, upload.data, answer.get("errors") or [])
        upload.answer = answer
    except ServiceUnavailable as exc:
        upload.failure = f"{exc.label.capitalize()} ne répond pas pour le moment. Réessayez dans quelques minutes."
    except ServiceError as exc:
        log.warning("relevé %s refusé par le service des heures (%s) : %s", upload.filename, exc.status, exc.body)
        upload.failure = exc.detail or f"Relevé refusé par le service des heures (code {exc.status})."
    except Exception:
        log.exception("envoi du relevé %s", upload.filename)
        upload.failure = "Erreur inattendue pendant l'envoi du relevé ; l'équipe technique a été alertée."
    finally:
        upload.data = b""


def start_upload(request: Request, services: Services, session: UserSession, filename: str, data: bytes) -> Upload:
    registry = uploads(request)
    for old in sorted(registry.values(), key=lambda u: u.started_at)[:max(0, len(registry) - UPLOADS_KEPT + 1)]:
        if old.done:
            del registry[old.id]
    upload = Upload(secrets.token_urlsafe(12), owner_of(session), filename[:300], dt.datetime.now(dt.UTC), data)
    upload.task = asyncio.create_task(send_statement(services, session, upload))
    registry[upload.id] = upload
    return upload


def find_upload(request: Request, session: UserSession, upload_id: str) -> Upload | None:
    upload = uploads(request).get(upload_id)
    return upload if upload is not None and upload.owner == owner_of(session) else None


@router.get("/releves")
async def statements(request: Request, session: FacilitatorSession, services: ServicesDep) -> Response:
    imports, imports_note = await optional(services.get("hours", "/hours/imports", session), "")
    return render(request, "facilitator/statements.html", {"imports": imports or [], "imports_note": imports_note,
                                                           "error": None})


@router.post("/releves")
async def upload_statement(request: Request, session: FacilitatorForm, services: ServicesDep) -> Response:
    form = await request.form()
    file = form.get("file")
    data = await file.read() if isinstance(file, UploadFile) else b""
    if not data.strip():
        imports, imports_note = await optional(services.get("hours", "/hours/imports", session), "")
        return render(request, "facilitator/statements.html", {
            "imports": imports or [], "imports_note": imports_note,
            "error": "Choisissez le fichier du relevé (CSV ou XLSX) : aucun fichier, ou un fichier vide, reçu."},
            status_code=422)
    upload = start_upload(request, services, session, file.filename or "relevé.csv", data)  # type: ignore[union-attr]
    return redirect(f"/facilitateur/releves/suivi/{upload.id}")


@dataclass(frozen=True)
class FixableRow:
    row: int
    cells: list[str]
    problems: dict[int, str]  # column index → French reason
    other_problems: list[str]  # reasons for columns not found in the header


@dataclass(frozen=True)
class FixTable:
    """The rejected rows of a CSV statement, cell by cell under the file's own header, to fix in the page."""

    header: list[str]
    rows: list[FixableRow]


def read_csv(data: bytes) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every non-blank line, numbered as the hours service numbers them."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")  # what Excel writes on French Windows
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max((";", ",", "\t"), key=first.count) if any(d in first for d in ";,\t") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True)
    return [(reader.line_num, [c.strip() for c in cells]) for cells in reader if "".join(cells).strip()]


def fix_table(data: bytes, errors: list[dict[str, Any]]) -> FixTable | None:
    """None for a file the portal cannot show cell by cell (XLSX, undecodable)."""
    if not errors or data[:4] == b"PK\x03\x04":
        return None
    try:
        lines = read_csv(data)
    except (UnicodeError, csv.Error):
        return None
    columns = {e["column"].strip().lower() for e in errors}
    first_bad = min(e["row"] for e in errors)
    candidates = [cells for number, cells in lines if number < first_bad]
    header = next((cells for cells in candidates if columns <= {c.lower() for c in cells}),
                  candidates[0] if candidates else [])
    by_number = dict(lines)
    position = {name.lower(): i for i, name in enumerate(header)}
    rows: dict[int, FixableRow] = {}
    for error in sorted(errors, key=lambda e: e["row"]):
        cells = by_number.get(error["row"])
        if cells is None:
            continue
        width = max(len(header), len(cells))
        row = rows.setdefault(error["row"], FixableRow(error["row"], (cells + [""] * width)[:width], {}, []))
        index = position.get(error["column"].strip().lower())
        if index is None:
            row.other_problems.append(f"{error['column']} : {error['message']}")
        else:
            row.problems[index] = error["message"]
    return FixTable(header, list(rows.values())) if header and rows else None


def corrected_csv(form: FormData) -> bytes:
    """The header and the corrected rows, as a CSV with semicolons (what the hours service reads first)."""
    header = [h for h in form.getlist("header") if isinstance(h, str)]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    for row in form.getlist("row"):
        writer.writerow([str(form.get(f"cell-{row}-{i}") or "").strip() for i in range(len(header))])
    return out.getvalue().encode("utf-8")


async def running_import(services: Services, session: UserSession, upload: Upload) -> dict[str, Any] | None:
    """The hours service's record of this upload while it writes (None while it still reads and checks)."""
    try:
        recent = await services.get("hours", "/hours/imports", session)
    except (ServiceUnavailable, ServiceError):
        return None
    since = upload.started_at - dt.timedelta(seconds=5)
    return next((i for i in recent if i["filename"] == upload.filename and i["status"] == "running"
                 and utc(i["created_at"]) >= since), None)


def utc(text: str) -> dt.datetime:
    """A service's timestamp; SQLite gives them back without their offset, which is UTC."""
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


async def upload_context(services: Services, session: UserSession, upload: Upload) -> dict[str, Any]:
    progress = None if upload.done else await running_import(services, session, upload)
    # Read after the await: the upload may have ended meanwhile, and the page must show one consistent state.
    return {"upload": upload, "done": upload.done, "answer": upload.answer, "fixes": upload.fixes,
            "progress": progress}


@router.get("/releves/suivi/{upload_id}")
async def upload_page(request: Request, upload_id: str, session: FacilitatorSession,
                      services: ServicesDep) -> Response:
    upload = find_upload(request, session, upload_id)
    if upload is None:
        return redirect("/facilitateur/releves", "Cet envoi n'est plus suivi : voyez la liste des derniers imports.",
                        "info")
    return render(request, "facilitator/upload.html", await upload_context(services, session, upload))


@router.get("/releves/suivi/{upload_id}/etat")
async def upload_state(request: Request, upload_id: str, session: FacilitatorSession,
                       services: ServicesDep) -> Response:
    """The progress fragment htmx polls every second until the import is over."""
    upload = find_upload(request, session, upload_id)
    if upload is None:
        return render(request, "_alert.html", {"title": "Envoi introuvable", "level": "info",
                                               "message": "Cet envoi n'est plus suivi : voyez les derniers imports."})
    return render(request, "facilitator/_upload_state.html", await upload_context(services, session, upload))


@router.post("/releves/corrections")
async def upload_corrections(request: Request, session: FacilitatorForm, services: ServicesDep) -> Response:
    form = await request.form()
    if not form.getlist("row") or not form.getlist("header"):
        return redirect("/facilitateur/releves", "Aucune ligne corrigée reçue.", "warning")
    original = str(form.get("filename") or "relevé").rsplit(".", 1)[0]
    stamp = time.strftime("%H%M%S")
    upload = start_upload(request, services, session, f"{original} - corrections {stamp}.csv", corrected_csv(form))
    return redirect(f"/facilitateur/releves/suivi/{upload.id}")
