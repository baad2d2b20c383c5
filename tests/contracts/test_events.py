"""The event catalogue: subjects, streams, envelope, and one realistic (and one wrong) payload per event."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from contracts import EVENTS, STREAMS, Envelope, EventSpec, new_envelope, spec_for, spec_for_subject
from contracts.events.hours import MAX_ENTRIES_PER_EVENT, HourEntry

SUBJECT = re.compile(r"(?P<prefix>[a-z]+)\.(?P<aggregate>[a-z][a-z_]*)\.(?P<event>[a-z][a-z_]*)\.v(?P<n>[1-9][0-9]*)")
SPECS = list(EVENTS.values())


def spec_id(spec: EventSpec) -> str:
    return f"{spec.stream.name}:{spec.event_type}.v{spec.version}"


# --- NATS subject filters ---------------------------------------------------------------------------------------------


def subject_matches(subject: str, pattern: str) -> bool:
    """NATS semantics: `*` is one token, `>` is one or more trailing tokens."""
    tokens, parts = subject.split("."), pattern.split(".")
    for i, part in enumerate(parts):
        if part == ">":
            return len(tokens) > i
        if i >= len(tokens) or (part != "*" and part != tokens[i]):
            return False
    return len(tokens) == len(parts)


def filters_overlap(a: str, b: str) -> bool:
    """Whether some subject matches both filters (JetStream refuses streams whose subjects overlap)."""

    def walk(x: list[str], y: list[str]) -> bool:
        if not x or not y:
            return not x and not y
        if x[0] == ">" or y[0] == ">":
            return True  # both still have at least one token to offer
        if x[0] in ("*", y[0]) or y[0] == "*":
            return walk(x[1:], y[1:])
        return False

    return walk(a.split("."), b.split("."))


def test_subject_helpers_behave_like_nats() -> None:
    assert subject_matches("hours.lot.at_risk.v1", "hours.>")
    assert not subject_matches("hours", "hours.>")
    assert not subject_matches("hoursx.lot.v1", "hours.>")
    assert subject_matches("a.b", "a.*") and not subject_matches("a.b.c", "a.*")
    assert filters_overlap("a.>", "a.b.*") and filters_overlap("*.x", "a.>")
    assert not filters_overlap("a.>", "b.>") and not filters_overlap("a.>", "a")


# --- subjects and streams ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_subject_is_prefix_aggregate_event_version(spec: EventSpec) -> None:
    match = SUBJECT.fullmatch(spec.subject)
    assert match, f"{spec.subject!r} is not <stream prefix>.<aggregate>.<event>.v<N>"
    assert f"{match['aggregate']}.{match['event']}" == spec.event_type
    assert int(match["n"]) == spec.version
    assert any(f == f"{match['prefix']}.>" for f in spec.stream.subjects), (spec.subject, spec.stream.subjects)


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_subject_falls_under_its_stream_only(spec: EventSpec) -> None:
    assert any(subject_matches(spec.subject, f) for f in spec.stream.subjects)
    for other in STREAMS.values():
        if other != spec.stream:
            assert not any(subject_matches(spec.subject, f) for f in other.subjects), (spec.subject, other.name)


def test_catalogue_keys_and_subjects_are_consistent() -> None:
    assert EVENTS, "no event registered"
    for (event_type, version), spec in EVENTS.items():
        assert (spec.event_type, spec.version) == (event_type, version)
        assert spec.producer == spec.stream.owner
        assert spec.summary.strip()
        assert issubclass(spec.model, BaseModel)
    subjects = [spec.subject for spec in SPECS]
    assert len(subjects) == len(set(subjects)), "two events share a subject"


def test_every_stream_has_exactly_one_distinct_owner() -> None:
    assert set(STREAMS) == {s.name for s in STREAMS.values()}
    owners = [s.owner for s in STREAMS.values()]
    assert all(isinstance(o, str) and o.strip() and "," not in o for o in owners), owners
    assert len(owners) == len(set(owners)), f"a service owns several streams: {owners}"
    for spec in SPECS:
        assert STREAMS[spec.stream.name] == spec.stream, f"{spec.event_type} uses an unregistered stream"
    for stream in STREAMS.values():
        assert stream.subjects, stream.name
        assert any(spec.stream == stream for spec in SPECS), f"stream {stream.name} carries no event"


def test_stream_subjects_do_not_overlap() -> None:
    for a, b in itertools.combinations(STREAMS.values(), 2):
        for fa, fb in itertools.product(a.subjects, b.subjects):
            assert not filters_overlap(fa, fb), f"{a.name} ({fa}) overlaps {b.name} ({fb})"


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_lookups_round_trip(spec: EventSpec) -> None:
    assert spec_for_subject(spec.subject) is spec
    assert spec_for(spec.event_type, spec.version, producer=spec.producer) is spec


def test_unknown_subject_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        spec_for_subject("markets.market.submitted.v99")
    with pytest.raises(KeyError):
        spec_for("market.submitted", 1, producer="hours")


# --- realistic examples -----------------------------------------------------------------------------------------------

MARKET_ID = "0b9f5a3e-6f1c-4f0a-9a59-6b7c8d1e2f30"
BUYER_ID = "5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
LOT_ID = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
STRUCTURE_ID = "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f"
BENEFICIARY_ID = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"
PLACEMENT_ID = "f0e1d2c3-b4a5-4968-8776-655443322110"
ENTRY_ID = "9a8b7c6d-5e4f-4a3b-9c1d-0e1f2a3b4c5d"
EMPLOYER_SIRET = "55203253400646"  # an employer (BTP company)


def lot_state(**changes: Any) -> dict[str, Any]:
    return {
        "lot_id": LOT_ID,
        "market_id": MARKET_ID,
        "buyer_id": BUYER_ID,
        "number": 1,
        "title": "Lot 1 — gros œuvre, démolition",
        "sector": "gros_oeuvre",
        "clause_kind": "execution_condition",
        "method": "rate",
        "amount_eur": "1250000.00",
        "start_date": "2026-03-02",
        "end_date": "2027-06-30",
        "owed_hours": "1750",
        "status": "submitted",
        "version": 1,
        **changes,
    }


def hour_entry(**changes: Any) -> dict[str, Any]:
    return {
        "entry_id": ENTRY_ID,
        "placement_id": PLACEMENT_ID,
        "beneficiary_id": BENEFICIARY_ID,
        "lot_id": LOT_ID,
        "market_id": MARKET_ID,
        "buyer_id": BUYER_ID,
        "employer_siret": EMPLOYER_SIRET,
        "structure_id": STRUCTURE_ID,
        "structure_kind": "ETTI",
        "modality": "provision",
        "month": "2026-04",
        "hours": "151.67",
        "kind": "work",
        **changes,
    }


def lot_progress(**changes: Any) -> dict[str, Any]:
    return {
        "lot_id": LOT_ID,
        "owed_hours": "1750",
        "realised_hours": "612.5",
        "percent": "35.00",
        "forecast_hours": "1540",
        "at_risk": False,
        "as_of": "2026-09-30",
        **changes,
    }


AWARDED = {"status": "awarded", "version": 3, "company_siret": EMPLOYER_SIRET, "company_name": "Bâtiments de l'Ouest"}

EXAMPLES: dict[tuple[str, int], dict[str, Any]] = {
    ("market.submitted", 1): {
        "market_id": MARKET_ID,
        "buyer_id": BUYER_ID,
        "buyer_name": "Rennes Métropole",
        "buyer_kind": "collectivite",
        "reference": "2026-RM-0042",
        "title": "Construction du groupe scolaire Joséphine-Baker",
        "cpv_code": "45214200-2",
        "commune_insee": "35238",
        "lots": [lot_state(), lot_state(lot_id=str(uuid.UUID(int=2)), number=2, sector="peinture", owed_hours="210")],
    },
    ("lot.clause_sized", 1): {
        "lot": lot_state(version=2),
        "formula": "amount_eur × labour_share / hourly_cost × rate",
        "parameters": {"labour_share": "0.35", "hourly_cost": "50", "rate": "0.05"},
        "warnings": [],
    },
    ("lot.awarded", 1): {
        "lot": lot_state(**AWARDED),
        "company_siret": EMPLOYER_SIRET,
        "company_name": "Bâtiments de l'Ouest",
        "awarded_amount_eur": "1198000.00",
    },
    ("lot.amended", 1): {
        "lot": lot_state(**{**AWARDED, "version": 4, "amount_eur": "1310000.00", "owed_hours": "1834"}),
        "amendment_number": 1,
        "reason": "Travaux supplémentaires : préau",
    },
    ("lot.invoiced", 1): {
        "lot": lot_state(**{**AWARDED, "version": 5, "invoiced_eur": "420000.00"}),
        "invoice_amount_eur": "420000.00",
        "invoiced_on": "2026-10-15",
    },
    ("lot.closed", 1): {
        "lot": lot_state(**{**AWARDED, "version": 6, "status": "closed"}),
        "closed_on": "2027-07-01",
    },
    ("structure.registered", 1): {
        "structure_id": STRUCTURE_ID,
        "siret": "41816609600069",
        "name": "Intérim Insertion Rennes",
        "kind": "ETTI",
        "sectors": ["gros_oeuvre", "second_oeuvre"],
        "communes": ["35238", "35281"],
        "capacity": 40,
    },
    ("beneficiary.enrolled", 1): {
        "beneficiary_id": BENEFICIARY_ID,
        "gender": "F",
        "birth_year": 1994,
        "commune_insee": "35238",
        "qpv": True,
        "education_level": "3",
        "categories": ["DELD", "RSA"],
        "enrolled_on": "2026-03-16",
    },
    ("placement.started", 1): {
        "placement_id": PLACEMENT_ID,
        "lot_id": LOT_ID,
        "beneficiary_id": BENEFICIARY_ID,
        "employer_siret": EMPLOYER_SIRET,
        "structure_id": STRUCTURE_ID,
        "structure_kind": "ETTI",
        "modality": "provision",
        "contract_type": "INTERIM",
        "start_date": "2026-04-01",
        "end_date": "2026-09-30",
    },
    ("placement.ended", 1): {
        "placement_id": PLACEMENT_ID,
        "lot_id": LOT_ID,
        "beneficiary_id": BENEFICIARY_ID,
        "end_date": "2026-09-30",
        "exit_category": "transition_job",
    },
    ("beneficiary.followed_up", 1): {
        "beneficiary_id": BENEFICIARY_ID,
        "placement_id": PLACEMENT_ID,
        "followed_up_on": "2027-03-30",
        "situation": "durable_job",
    },
    ("beneficiary.erased", 1): {"beneficiary_id": BENEFICIARY_ID, "erased_on": "2029-04-01"},
    ("hours.recorded", 1): {
        "entries": [hour_entry(), hour_entry(entry_id=str(uuid.UUID(int=5)), month="2026-05", hours="35", kind="training")]
    },
    ("hours.corrected", 1): {
        "entry": hour_entry(entry_id=str(uuid.UUID(int=6)), hours="140"),
        "corrects_entry_id": ENTRY_ID,
    },
    ("lot.progressed", 1): lot_progress(),
    ("lot.target_reached", 1): lot_progress(realised_hours="1762", percent="100.69", forecast_hours="1762"),
    ("lot.at_risk", 1): lot_progress(realised_hours="120", percent="6.86", forecast_hours="900", at_risk=True),
}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(payload: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = payload
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


_DELETE = object()

WRONG: dict[tuple[str, int], list[Callable[[dict[str, Any]], None]]] = {
    ("market.submitted", 1): [_set("lots.0.status", "paid"), _set("buyer_kind", "mairie"), _set("market_id", "M-42")],
    ("lot.clause_sized", 1): [_set("lot.version", 0), _set("lot.method", "guess")],
    ("lot.awarded", 1): [_set("company_siret", _DELETE), _set("awarded_amount_eur", "beaucoup")],
    ("lot.amended", 1): [_set("amendment_number", "deux"), _set("lot", _DELETE)],
    ("lot.invoiced", 1): [_set("invoiced_on", "2026-02-30"), _set("invoice_amount_eur", None)],
    ("lot.closed", 1): [_set("closed_on", "demain"), _set("lot.sector", "spatial")],
    ("structure.registered", 1): [_set("kind", "ONG"), _set("capacity", "many"), _set("sectors", "gros_oeuvre")],
    ("beneficiary.enrolled", 1): [_set("gender", "X"), _set("categories", ["CHOMEUR"]), _set("qpv", "peut-être")],
    ("placement.started", 1): [_set("modality", "freelance"), _set("contract_type", "CDI-chantier")],
    ("placement.ended", 1): [_set("exit_category", "great"), _set("end_date", _DELETE)],
    ("beneficiary.followed_up", 1): [_set("situation", _DELETE), _set("situation", "employed")],
    ("beneficiary.erased", 1): [_set("beneficiary_id", "Martin"), _set("erased_on", _DELETE)],
    ("hours.recorded", 1): [
        _set("entries.0.month", "2026-13"),
        _set("entries.1.month", "2026-4"),
        _set("entries.0.hours", "-7"),
        _set("entries.0.kind", "overtime"),
        _set("entries", []),
    ],
    ("hours.corrected", 1): [_set("entry.month", "2026-00"), _set("corrects_entry_id", _DELETE)],
    ("lot.progressed", 1): [_set("as_of", "2026-09-31"), _set("percent", "lots")],
    ("lot.target_reached", 1): [_set("at_risk", "maybe"), _set("lot_id", _DELETE)],
    ("lot.at_risk", 1): [_set("owed_hours", "n/a"), _set("as_of", "Q3 2026")],
}


def example(spec: EventSpec) -> BaseModel:
    return spec.model.model_validate(copy.deepcopy(EXAMPLES[(spec.event_type, spec.version)]))


def test_every_event_has_an_example_and_wrong_ones() -> None:
    assert set(EXAMPLES) == set(EVENTS), "write an example for each registered event (and remove stale ones)"
    assert set(WRONG) == set(EVENTS)
    assert all(WRONG.values())


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_realistic_example_validates(spec: EventSpec) -> None:
    raw = EXAMPLES[(spec.event_type, spec.version)]
    model = spec.model.model_validate(copy.deepcopy(raw))
    # and survives the wire
    assert spec.model.model_validate_json(model.model_dump_json()) == model
    assert set(raw) <= set(spec.model.model_fields), "the example names a field the model does not have"


@pytest.mark.parametrize(
    ("spec", "index"),
    [(spec, i) for spec in SPECS for i in range(len(WRONG[(spec.event_type, spec.version)]))],
    ids=lambda v: spec_id(v) if isinstance(v, EventSpec) else str(v),
)
def test_wrong_example_is_rejected(spec: EventSpec, index: int) -> None:
    payload = copy.deepcopy(EXAMPLES[(spec.event_type, spec.version)])
    WRONG[(spec.event_type, spec.version)][index](payload)
    with pytest.raises(ValidationError):
        spec.model.model_validate(payload)


def test_hours_recorded_batch_is_bounded() -> None:
    entries = [hour_entry(entry_id=str(uuid.UUID(int=i))) for i in range(MAX_ENTRIES_PER_EVENT + 1)]
    spec = spec_for("hours.recorded")
    spec.model.model_validate({"entries": entries[:MAX_ENTRIES_PER_EVENT]})
    with pytest.raises(ValidationError):
        spec.model.model_validate({"entries": entries})


# --- envelope -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_envelope_json_round_trip_keeps_every_field(spec: EventSpec) -> None:
    payload = example(spec)
    envelope = new_envelope(spec.event_type, spec.version, spec.producer, payload, correlation_id="req-7f3a9c")

    back = Envelope.model_validate_json(envelope.model_dump_json())

    for field in Envelope.model_fields:
        assert getattr(back, field) == getattr(envelope, field), field
    assert back == envelope
    assert back.event_type == spec.event_type and back.event_version == spec.version
    assert back.producer == spec.producer and back.correlation_id == "req-7f3a9c"
    assert back.occurred_at.tzinfo is not None, "occurred_at lost its time zone"
    assert back.occurred_at.utcoffset() == dt.timedelta(0), "occurred_at is not UTC"
    assert abs(dt.datetime.now(dt.UTC) - back.occurred_at) < dt.timedelta(minutes=1)
    assert spec.model.model_validate(back.data) == payload


def test_envelope_keeps_an_explicit_time_and_draws_fresh_ids() -> None:
    spec = spec_for("beneficiary.erased")
    at = dt.datetime(2029, 4, 1, 8, 30, 15, 123456, tzinfo=dt.UTC)
    first = new_envelope(spec.event_type, spec.version, spec.producer, example(spec), occurred_at=at)
    second = new_envelope(spec.event_type, spec.version, spec.producer, example(spec), occurred_at=at)
    assert first.event_id != second.event_id
    assert first.correlation_id is None
    back = Envelope.model_validate_json(first.model_dump_json())
    assert back.occurred_at == at and back.occurred_at.utcoffset() == dt.timedelta(0)


def test_envelope_rejects_a_bad_version_and_id() -> None:
    good = new_envelope("beneficiary.erased", 1, "matching", example(spec_for("beneficiary.erased")))
    raw = good.model_dump(mode="json")
    for field, value in (("event_version", 0), ("event_id", "not-a-uuid"), ("data", "x")):
        with pytest.raises(ValidationError):
            Envelope.model_validate({**raw, field: value})


def test_envelope_rejects_a_naive_occurred_at() -> None:
    raw = new_envelope("beneficiary.erased", 1, "matching", example(spec_for("beneficiary.erased"))).model_dump(
        mode="json"
    )
    with pytest.raises(ValidationError):
        Envelope.model_validate({**raw, "occurred_at": "2026-04-01T08:30:00"})


# --- HourEntry.month ------------------------------------------------------------------------------------------------


def is_year_month(text: str) -> bool:
    """The oracle: exactly `YYYY-MM`, ASCII digits, month 01..12."""
    return (
        len(text) == 7
        and all(c in "0123456789" for c in text[:4])
        and text[4] == "-"
        and text[5:] in {f"{m:02d}" for m in range(1, 13)}
    )


def month_accepted(month: str) -> bool:
    try:
        HourEntry.model_validate(hour_entry(month=month))
    except ValidationError:
        return False
    return True


ASCII_MONTHISH = st.one_of(
    st.text(alphabet="0123456789-/ \n\tT:Z", max_size=10),
    st.from_regex(r"[0-9]{4}-[0-9]{2}", fullmatch=True),
    st.from_regex(r"[0-9]{2,5}-[0-9]{1,3}", fullmatch=True),
    st.builds(lambda y, m, pre, post: f"{pre}{y:04d}-{m:02d}{post}", st.integers(0, 9999), st.integers(0, 99),
              st.sampled_from(["", " ", "\n", "x"]), st.sampled_from(["", " ", "\n", "-01", "x"])),
    st.text(alphabet=st.characters(codec="ascii"), max_size=9),
)


@settings(max_examples=400, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(year=st.integers(0, 9999), month=st.integers(1, 12))
def test_month_accepts_every_year_month(year: int, month: int) -> None:
    assert month_accepted(f"{year:04d}-{month:02d}")


@settings(max_examples=600, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=ASCII_MONTHISH)
def test_month_accepts_exactly_year_month(text: str) -> None:
    assert month_accepted(text) == is_year_month(text), repr(text)


@pytest.mark.parametrize("text", ["2026-00", "2026-13", "2026-1", "26-01", "2026/01", "2026-01-15", "2026-01\n", ""])
def test_month_rejects_near_misses(text: str) -> None:
    assert not month_accepted(text)


@pytest.mark.parametrize("text", ["２０２６-04", "٢٠٢٦-04"])
def test_month_rejects_non_ascii_digits(text: str) -> None:
    assert not month_accepted(text)
