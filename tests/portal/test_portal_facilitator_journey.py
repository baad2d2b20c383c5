"""The facilitator's journey in a real headless Chromium, against the four services and the portal running as real
processes on a real NATS server: dashboard → award a lot (a wrong SIRET first), amend it → enrol a person with
criteria (a wrong commune first) → candidates, one-click placement → statement with a bad row → fix the row in the
page, send it again → the lot's progress shows the hours → end the placement with an exit → the pathway shows it
and when its 6-month follow-up is due (one today is refused) → find the person by name → the dashboard. Screenshots in var/screenshots/."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from pathlib import Path

import httpx
from harness import TOKEN
from portal_support import WAIT_SECONDS, create_buyer, create_market, screenshot, sign_in, siret, wait_text
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.support.ui import Select, WebDriverWait

from services.matching.domain.placements import follow_up_due
from shared.auth import Role

TODAY = dt.date.today()
COMPANY_SIRET = "44306184100047"
REFERENCE = f"NET-{uuid.uuid4().hex[:6].upper()}"
IMPORT_SECONDS = 40  # the hours service checks, then writes; the machine may be busy


def months_back(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1)


def set_value(browser: WebDriver, element_id: str, value: str) -> None:
    """Date inputs: typing depends on the browser's locale, so the value is set as the page's script would."""
    browser.execute_script("document.getElementById(arguments[0]).value = arguments[1]", element_id, value)


def type_into(browser: WebDriver, element_id: str, text: str) -> None:
    element = browser.find_element(By.ID, element_id)
    element.clear()
    element.send_keys(text)


def click(browser: WebDriver, element_id: str) -> None:
    browser.find_element(By.ID, element_id).click()


def tick(browser: WebDriver, element_id: str) -> None:
    """DSFR checkboxes are drawn by their label: a person clicks the label."""
    browser.find_element(By.CSS_SELECTOR, f"label[for='{element_id}']").click()


def wait_element_text(browser: WebDriver, element_id: str, text: str, timeout: float = WAIT_SECONDS) -> str:
    """The element's text once it contains `text` (htmx swaps fragments in a moment later)."""
    def found(b: WebDriver) -> str | None:
        elements = b.find_elements(By.ID, element_id)
        return elements[0].text if elements and text in elements[0].text else None

    try:
        return WebDriverWait(browser, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(found)
    except TimeoutException as exc:
        html = browser.find_element(By.TAG_NAME, "main").get_attribute("innerHTML")
        raise AssertionError(f"« {text} » jamais affiché dans #{element_id} ; page : {html[:4000]}") from exc


def reload_until(browser: WebDriver, url: str, text: str, timeout: float = WAIT_SECONDS) -> None:
    """Events take a moment to reach the other services: reload the page until `text` shows."""
    deadline = time.monotonic() + timeout
    while True:
        browser.get(url)
        body = browser.find_element(By.TAG_NAME, "body").text
        if text in body:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"« {text} » jamais affiché sur {url} ; page : {body[:2000]}")
        time.sleep(0.3)


def place(browser: WebDriver, lot_url: str, person_id: str, start: dt.date) -> None:
    """One click on the candidate's « Placer » button. Matching hears of the award a moment after market_intake:
    until then it refuses, next to the candidate, and a person would click again."""
    deadline = time.monotonic() + 60
    while True:
        set_value(browser, f"debut-{person_id}", str(start))
        click(browser, f"placer-{person_id}")
        outcome = WebDriverWait(browser, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda b: "Parcours commencé le" in b.find_element(By.ID, "alertes").text
            or b.find_elements(By.CSS_SELECTOR, f"#candidat-{person_id} [role=alert]"))
        if outcome is True:
            return
        refusal = browser.find_element(By.ID, f"candidat-{person_id}").text
        assert "n'est pas attribué" in refusal and time.monotonic() < deadline, refusal
        time.sleep(0.5)
        browser.get(lot_url)


def wait_until_known(url: str, path: str) -> None:
    """Until the service answers 200 for `path` (it has received what it needs from the events)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while httpx.get(url + path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code != 200:
        assert time.monotonic() < deadline, f"{url}{path} jamais disponible : {httpx.get(url + '/health/ready').text}"
        time.sleep(0.2)


def submitted_lot(stack) -> str:
    """A buyer of its own and its market with one cleaning lot ending in two months, submitted: the lot's id."""
    async def seed() -> str:
        buyer_id = await create_buyer(stack, "Ville de Fougères", siret())
        market = await create_market(stack, buyer_id, REFERENCE, title="Nettoyage des écoles", sector="nettoyage",
                                     amount_eur="600000", start_date=str(TODAY - dt.timedelta(days=180)),
                                     end_date=str(TODAY + dt.timedelta(days=60)))
        return market["lots"][0]["id"]

    return asyncio.run(seed())


def test_facilitator_journey(portal_stack, browser: WebDriver, tmp_path: Path) -> None:
    portal = portal_stack.portal_url
    lot_id = submitted_lot(portal_stack)
    lot_url = f"{portal}/facilitateur/lots/{lot_id}"
    sign_in(browser, portal, portal_stack.token(Role.FACILITATOR, subject="Camille Le Du"))

    # 1. The dashboard.
    browser.get(f"{portal}/facilitateur")
    wait_text(browser, "Lots en retard sur leurs heures")
    wait_text(browser, "Derniers relevés importés")
    screenshot(browser, "facilitateur-01-tableau-de-bord")

    # 2. The market, its lot, and the award form: a wrong SIRET is refused next to its field, then the lot is awarded.
    browser.get(f"{portal}/facilitateur/marches")
    type_into(browser, "reference", REFERENCE)
    browser.find_element(By.CSS_SELECTOR, "form[role=search] button").click()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda b: f"reference={REFERENCE}" in b.current_url)
    browser.find_element(By.LINK_TEXT, REFERENCE).click()
    wait_text(browser, f"Marché {REFERENCE}")
    browser.find_element(By.PARTIAL_LINK_TEXT, "Lot 1").click()
    wait_text(browser, "Attribuer le lot")
    type_into(browser, "company_siret", "44306184100048")
    type_into(browser, "company_name", "Propreté Bretonne")
    click(browser, "attribuer")
    wait_text(browser, "SIRET")
    siret_error = browser.find_element(By.ID, "erreur-company_siret").text
    assert "SIRET" in siret_error or "Luhn" in siret_error or "invalide" in siret_error, siret_error
    assert browser.find_element(By.ID, "company_name").get_attribute("value") == "Propreté Bretonne"
    screenshot(browser, "facilitateur-02-attribution-refusee")
    type_into(browser, "company_siret", COMPANY_SIRET)
    click(browser, "attribuer")
    wait_text(browser, "Lot attribué à Propreté Bretonne")
    assert "Propreté Bretonne" in browser.find_element(By.ID, "titulaire").text
    screenshot(browser, "facilitateur-03-lot-attribue")
    type_into(browser, "avenant-motif", "Prolongation des travaux d'été")
    click(browser, "enregistrer-avenant")  # neither a new amount nor a new end date
    wait_element_text(browser, "avenant", "un avenant modifie le montant (amount_eur) ou la date de fin (end_date)")
    set_value(browser, "avenant-fin", str(TODAY + dt.timedelta(days=75)))
    click(browser, "enregistrer-avenant")
    wait_element_text(browser, "alertes", "Avenant enregistré")
    assert "Prolongation des travaux d'été" in browser.find_element(By.ID, "avenants").text
    browser.get(f"{portal}/facilitateur")
    wait_text(browser, "Nettoyage")  # the awarded lot ends within 3 months
    assert "Propreté Bretonne" in browser.find_element(By.ID, "lots-fin-proche").text

    # 3. Enrolment with eligibility criteria.
    placement_start = months_back(TODAY, 2)
    browser.get(f"{portal}/facilitateur/beneficiaires/nouveau")
    type_into(browser, "first_name", "Maëlle")
    type_into(browser, "last_name", "Le Goff")
    set_value(browser, "birth_date", "1994-04-17")
    Select(browser.find_element(By.ID, "gender")).select_by_value("F")
    type_into(browser, "commune_insee", "3523")  # one digit short: refused next to the field, the rest kept
    Select(browser.find_element(By.ID, "education_level")).select_by_value("3")
    tick(browser, "qpv")
    tick(browser, "secteur-nettoyage")
    tick(browser, "critere-RSA")
    set_value(browser, "checked_on", str(placement_start - dt.timedelta(days=10)))
    type_into(browser, "prescriber", "Département d'Ille-et-Vilaine")
    click(browser, "inscrire")
    assert "code INSEE de commune invalide" in wait_element_text(browser, "erreur-commune_insee", "INSEE")
    assert browser.find_element(By.ID, "first_name").get_attribute("value") == "Maëlle"
    assert browser.find_element(By.ID, "critere-RSA").is_selected()
    assert browser.find_element(By.ID, "prescriber").get_attribute("value") == "Département d'Ille-et-Vilaine"
    screenshot(browser, "facilitateur-04-inscription-refusee")
    type_into(browser, "commune_insee", "35238")
    click(browser, "inscrire")
    wait_element_text(browser, "alertes", "Maëlle Le Goff est inscrit(e).")
    wait_text(browser, "Allocataire du RSA")
    assert "Camille Le Du" in browser.find_element(By.ID, "eligibilite").text  # who recorded the check
    person_url = browser.current_url

    # 4. The lot's candidates, with their reasons; one click places the person.
    person_id = person_url.rstrip("/").rsplit("/", 1)[1]
    reload_until(browser, lot_url, "Maëlle Le Goff")
    candidate = browser.find_element(By.ID, f"candidat-{person_id}")
    assert "habite un quartier prioritaire (QPV)" in candidate.text, candidate.text
    assert "éligible : critères RSA vérifiés" in candidate.text, candidate.text
    screenshot(browser, "facilitateur-05-candidats")
    place(browser, lot_url, person_id, placement_start)
    placement_id = browser.find_element(By.CSS_SELECTOR, ".placement").get_attribute("id").removeprefix("placement-")
    assert "en cours" in browser.find_element(By.ID, f"placement-{placement_id}").text

    # 5. A statement with one bad row: the good row is recorded, the bad one is shown to fix, then sent again.
    wait_until_known(portal_stack.service("hours").url, f"/hours?placement_id={placement_id}")
    first_month, second_month = placement_start.strftime("%Y-%m"), months_back(TODAY, 1).strftime("%Y-%m")
    statement = tmp_path / "releve-octobre.csv"
    statement.write_text(f"placement;mois;heures\n{placement_id};{first_month};35\n"
                         f"{placement_id};{second_month};trente\n",
                         encoding="utf-8")
    browser.get(f"{portal}/facilitateur/releves")
    browser.find_element(By.ID, "releve").send_keys(str(statement))
    click(browser, "envoyer-releve")
    wait_element_text(browser, "bilan-import", "1 ligne(s) enregistrée(s), 1 ligne(s) écartée(s)", IMPORT_SECONDS)
    rejected = wait_element_text(browser, "lignes-refusees", "trente")
    assert "3" in rejected and "heures invalides « trente »" in rejected, rejected
    screenshot(browser, "facilitateur-06-releve-ligne-refusee")
    type_into(browser, "cellule-3-2", "30")
    click(browser, "renvoyer-corrections")
    assert wait_element_text(browser, "bilan-import", "enregistrée", IMPORT_SECONDS) == "1 ligne(s) enregistrée(s)"
    wait_text(browser, "Import terminé")
    screenshot(browser, "facilitateur-07-releve-corrige")

    # 6. The lot's progress counts both months.
    browser.get(lot_url)
    wait_text(browser, "65,00 h réalisées")
    screenshot(browser, "facilitateur-08-avancement-du-lot")

    # 7. The placement ends with an exit category; the pathway page shows it.
    browser.get(person_url)
    Select(browser.find_element(By.ID, f"sortie-{placement_id}")).select_by_value("durable_job")
    click(browser, f"terminer-{placement_id}")
    wait_text(browser, "Parcours terminé : Emploi durable")
    assert "sortie : Emploi durable" in browser.find_element(By.ID, f"placement-{placement_id}").text
    due = follow_up_due(TODAY, 6)  # the situation 6 months after the exit (FSE survey)
    assert f"à saisir à partir du {due:%d/%m/%Y}" in browser.find_element(By.ID, f"suivi-du-{placement_id}").text
    # A follow-up today is refused: it would be counted as the situation 6 months after the exit.
    Select(browser.find_element(By.ID, "suivi-situation")).select_by_value("durable_job")
    Select(browser.find_element(By.ID, "suivi-parcours")).select_by_value(placement_id)
    click(browser, "enregistrer-suivi")
    refusal = wait_element_text(browser, "groupe-suivi-date", "le suivi à 6 mois se saisit à partir du")
    assert f"{due:%d/%m/%Y}" in refusal, refusal
    assert "Aucun suivi enregistré" in browser.find_element(By.ID, "suivis").text
    screenshot(browser, "facilitateur-09-parcours-termine-suivi-a-6-mois")

    # 8. Found again by name.
    browser.get(f"{portal}/facilitateur/beneficiaires")
    type_into(browser, "q", "goff maëlle")
    click(browser, "rechercher-personne")
    wait_element_text(browser, "personnes-trouvees", "Maëlle Le Goff")
    browser.find_element(By.LINK_TEXT, "Maëlle Le Goff").click()
    wait_text(browser, "sortie : Emploi durable")

    # 9. Back on the dashboard: the statements just imported, the lot ending soon.
    browser.get(f"{portal}/facilitateur")
    assert "releve-octobre - corrections" in wait_element_text(browser, "derniers-imports", "releve-octobre.csv")
    screenshot(browser, "facilitateur-10-tableau-de-bord")
