"""The buyer's and the funder's journeys in a real headless Chromium, against the four services and the portal
running as processes on a real NATS server. Screenshots of each step go to var/screenshots/portail-*.png."""

from __future__ import annotations

import re

import httpx
from harness import eventually
from portal_support import create_buyer, create_market, record_hours, screenshot, sign_in, siret, wait_text
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from services.portal.rendering import fr_number
from shared.auth import Role


def fill(browser: WebDriver, element_id: str, value: str) -> None:
    element = browser.find_element(By.ID, element_id)
    element.clear()
    element.send_keys(value)


def set_date(browser: WebDriver, element_id: str, iso: str) -> None:
    """Date inputs are typed in the browser's locale order; set the value as the date picker would."""
    browser.execute_script(
        "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
        "e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true}));",
        element_id, iso)


def fill_lot(browser: WebDriver, index: int, title: str, sector: str, amount: str, start: str, end: str) -> None:
    fill(browser, f"lots-{index}-title", title)
    Select(browser.find_element(By.ID, f"lots-{index}-sector")).select_by_value(sector)
    set_date(browser, f"lots-{index}-start_date", start)
    set_date(browser, f"lots-{index}-end_date", end)
    if amount:
        fill(browser, f"lots-{index}-amount_eur", amount)


def unlabelled_fields(browser: WebDriver) -> list[str]:
    """Names of the visible form fields that no <label for=…> names (screen readers would read nothing)."""
    return browser.execute_script(
        "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
        ".filter(e => !e.id || !document.querySelector(`label[for='${e.id}']`)).map(e => e.name);")


async def estimated_hours(stack, amount: str, sector: str, cpv_code: str = "45214200") -> str:
    """What market_intake itself answers for this lot of a market with this CPV code, as the page prints it."""
    async with stack.service("market_intake").client() as client:
        answer = await client.post("/clause-estimates", json={"method": "rate", "sector": sector, "amount_eur": amount,
                                                               "start_date": "2026-01-05", "end_date": "2027-06-30",
                                                               "cpv_code": cpv_code})
        assert answer.status_code == 200, answer.text
        return fr_number(answer.json()["hours"])


async def test_buyer_declares_a_market_with_a_live_estimate_and_follows_its_progress(portal_stack, browser):
    buyer_id = await create_buyer(portal_stack, "Ville de Rennes", siret())
    sign_in(browser, portal_stack.portal_url, portal_stack.token(Role.BUYER, buyer_id))
    assert browser.current_url.endswith("/acheteur/marches")
    wait_text(browser, "Bienvenue, Ville de Rennes.")
    wait_text(browser, "Aucun marché pour l'instant.")
    screenshot(browser, "portail-acheteur-1-mes-marches")

    browser.find_element(By.LINK_TEXT, "Déclarer un marché").click()
    wait_text(browser, "Déclarer un marché")
    assert unlabelled_fields(browser) == []
    fill(browser, "reference", "RN-2026-007")
    fill(browser, "title", "Réhabilitation de l'école Guillevic")
    fill(browser, "cpv_code", "45214200")
    fill(browser, "commune_insee", "35238")
    fill_lot(browser, 0, "Gros œuvre", "gros_oeuvre", "1 000 000", "2026-01-05", "2027-06-30")
    wait_text(browser, f"{await estimated_hours(portal_stack, '1000000', 'gros_oeuvre')} heures d'insertion")
    fill(browser, "lots-0-amount_eur", "2 000 000")  # the estimate follows the typing
    wait_text(browser, f"{await estimated_hours(portal_stack, '2000000', 'gros_oeuvre')} heures d'insertion")
    screenshot(browser, "portail-acheteur-2-estimation")
    # The market's CPV code gives the default rate (works 5 %, services 10 %): the estimate follows it as well.
    works = await estimated_hours(portal_stack, "2000000", "espaces_verts")
    services = await estimated_hours(portal_stack, "2000000", "espaces_verts", "77310000")
    assert works != services
    Select(browser.find_element(By.ID, "lots-0-sector")).select_by_value("espaces_verts")
    wait_text(browser, f"{works} heures d'insertion")
    assert "marché de travaux" in browser.find_element(By.ID, "regle-taux-0").text
    fill(browser, "cpv_code", "77310000")  # green-space upkeep: a services market
    wait_text(browser, f"{services} heures d'insertion")
    assert "marché hors travaux" in browser.find_element(By.ID, "regle-taux-0").text
    fill(browser, "cpv_code", "45214200")
    Select(browser.find_element(By.ID, "lots-0-sector")).select_by_value("gros_oeuvre")
    wait_text(browser, f"{await estimated_hours(portal_stack, '2000000', 'gros_oeuvre')} heures d'insertion")

    browser.find_element(By.ID, "ajouter-lot").click()
    wait_text(browser, "Lot 2")
    assert browser.find_element(By.ID, "lots-0-amount_eur").get_attribute("value") == "2 000 000"
    fill_lot(browser, 1, "Peinture", "peinture", "", "2026-03-01", "2027-06-30")  # amount forgotten
    browser.find_element(By.ID, "enregistrer-marche").click()
    wait_text(browser, "Le marché n'a pas été enregistré")
    assert browser.find_element(By.ID, "erreur-lots-1-amount_eur").text == "champ obligatoire"
    assert "Lot 2 — Montant HT : champ obligatoire" in browser.find_element(By.ID, "erreurs-formulaire").text
    screenshot(browser, "portail-acheteur-3-erreur-champ")

    fill(browser, "lots-1-amount_eur", "150 000")
    browser.find_element(By.ID, "enregistrer-marche").click()
    wait_text(browser, "Marché « RN-2026-007 » enregistré : 2 lots")
    market_id = re.search(r"/acheteur/marches/([0-9a-f-]{36})$", browser.current_url).group(1)
    screenshot(browser, "portail-acheteur-4-marche-enregistre")

    async with portal_stack.service("market_intake").client() as client:
        lots = (await client.get(f"/markets/{market_id}")).json()["lots"]
    await record_hours(portal_stack, lots[0]["id"], start="2026-01-05", month="2026-02", hours="120")
    browser.get(f"{portal_stack.portal_url}/acheteur/marches")
    wait_text(browser, "RN-2026-007 — Réhabilitation de l'école Guillevic")
    row = browser.find_element(By.ID, f"lot-{lots[0]['id']}").text
    assert f"Réalisé 120 h sur {fr_number(lots[0]['target_hours'])} h dues" in row, row
    assert "Attribué" in row and "Bâtiments d'Armor" in row
    bar = browser.find_element(By.ID, f"avancement-{lots[0]['id']}")
    assert bar.get_attribute("aria-label").startswith("120 heures réalisées sur")
    assert "Suivi des heures pas encore disponible" not in browser.find_element(By.ID, f"lot-{lots[1]['id']}").text
    screenshot(browser, "portail-acheteur-5-avancement")


async def test_funder_reads_a_quarter_a_year_and_one_buyers_year_to_date_and_downloads_them(portal_stack, browser):
    buyer_id = await create_buyer(portal_stack, "Archipel Habitat", siret())
    other_id = await create_buyer(portal_stack, "Espacil Habitat", siret())
    # 2024: a year no other test of the shared stack records hours in, so the report's figures are this test's:
    # Archipel Habitat 40 h in February and 150 h in May, Espacil Habitat 60 h in March
    market = await create_market(portal_stack, buyer_id, "AH-2024-003", start_date="2024-01-08", end_date="2026-06-30")
    await record_hours(portal_stack, market["lots"][0]["id"], start="2024-01-08", month="2024-05", hours="150")
    winter = await create_market(portal_stack, buyer_id, "AH-2024-004", start_date="2024-01-08", end_date="2026-06-30")
    await record_hours(portal_stack, winter["lots"][0]["id"], start="2024-01-08", month="2024-02", hours="40")
    other = await create_market(portal_stack, other_id, "EH-2024-001", start_date="2024-01-08", end_date="2026-06-30")
    await record_hours(portal_stack, other["lots"][0]["id"], start="2024-01-08", month="2024-03", hours="60")
    async with portal_stack.service("reporting").client() as client:
        async def reported() -> bool:
            quarter = (await client.get("/reports/quarterly", params={"year": 2024, "quarter": 2})).json()
            cumul = (await client.get("/reports/year-to-date", params={"year": 2024, "quarter": 2})).json()
            return quarter["totals"]["hours"] == 150 and cumul["totals"]["hours"] == 250

        await eventually(reported, timeout=60, interval=0.2)

    sign_in(browser, portal_stack.portal_url, portal_stack.token(Role.FUNDER, subject="Région Bretagne"))
    assert "/financeur/bilan" in browser.current_url
    assert unlabelled_fields(browser) == []
    buyers = Select(browser.find_element(By.ID, "acheteur"))
    assert buyers.first_selected_option.text == "Tous les acheteurs"
    assert {"Espacil Habitat", "Tous les acheteurs"} <= {o.text for o in buyers.options}
    fill(browser, "annee", "2024")
    Select(browser.find_element(By.ID, "trimestre")).select_by_value("2")
    browser.find_element(By.ID, "afficher-bilan").click()
    wait_text(browser, "Bilan des clauses sociales d'insertion — ")
    report = browser.find_element(By.ID, "bilan")
    assert "Du 2024-04-01 au 2024-06-30" in report.text
    assert "150,00" in report.text  # the hours of May 2024, in the summary cards and tables
    assert len(report.find_elements(By.TAG_NAME, "svg")) >= 3  # the charts
    screenshot(browser, "portail-financeur-1-bilan-trimestriel")

    session = browser.get_cookie("cs_session")["value"]
    with httpx.Client(cookies={"cs_session": session}, timeout=30) as client:
        for fmt, kind, start in (("csv", "text/csv", b"\xef\xbb\xbf"), ("pdf", "application/pdf", b"%PDF"),
                                 ("xlsx", "application/vnd.openxmlformats", b"PK")):
            href = browser.find_element(By.ID, f"telecharger-{fmt}").get_attribute("href")
            answer = client.get(href)
            assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind), (fmt, answer.text)
            assert answer.headers["content-disposition"] == f'attachment; filename="bilan-2024-T2.{fmt}"'
            assert answer.content.startswith(start), fmt
            if fmt == "csv":
                assert "150,00" in answer.content.decode("utf-8-sig")

    browser.find_element(By.CSS_SELECTOR, "label[for=periode-annee]").click()
    browser.find_element(By.ID, "afficher-bilan").click()
    wait_text(browser, "Du 2024-01-01 au 2024-12-31")
    assert "150,00" in browser.find_element(By.ID, "bilan").text
    screenshot(browser, "portail-financeur-2-bilan-annuel")

    # the year to date through the 2nd quarter, for Archipel Habitat only: its 40 h of February and 150 h of May,
    # not Espacil Habitat's 60 h of March
    browser.find_element(By.CSS_SELECTOR, "label[for=periode-cumul]").click()
    Select(browser.find_element(By.ID, "trimestre")).select_by_value("2")
    Select(browser.find_element(By.ID, "acheteur")).select_by_value(buyer_id)
    browser.find_element(By.ID, "afficher-bilan").click()
    wait_text(browser, "Bilan des clauses sociales d'insertion — Cumul 2024 au 30/06/2024")
    assert browser.find_element(By.ID, "periode-cumul").is_selected()
    assert Select(browser.find_element(By.ID, "acheteur")).first_selected_option.get_attribute("value") == buyer_id
    report = browser.find_element(By.ID, "bilan")
    assert "Du 2024-01-01 au 2024-06-30 · acheteur : Archipel Habitat" in report.text
    card = ".//div[@class='card'][div[@class='l']='Heures réalisées']/div[@class='v']"
    assert report.find_element(By.XPATH, card).text == "190,00"  # 40 h in February + 150 h in May
    assert "Cumul 2023 au 30/06/2023" in report.text  # compared with the same span of the year before
    assert "250,00" not in report.text and "Espacil Habitat" not in report.text
    assert unlabelled_fields(browser) == []
    screenshot(browser, "portail-financeur-3-cumul-un-acheteur")
    with httpx.Client(cookies={"cs_session": session}, timeout=30) as client:
        for fmt in ("csv", "xlsx"):
            href = browser.find_element(By.ID, f"telecharger-{fmt}").get_attribute("href")
            assert "period=year_to_date" in href and f"buyer_id={buyer_id}" in href, href
            answer = client.get(href)
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-disposition"] == f'attachment; filename="bilan-2024-cumul-T2.{fmt}"'
        text = client.get(browser.find_element(By.ID, "telecharger-csv").get_attribute("href")).content.decode(
            "utf-8-sig")
        assert "Synthèse;Cumul 2024 au 30/06/2024;;Heures réalisées;190,00" in text

    fill(browser, "annee", "20x5")
    browser.find_element(By.ID, "afficher-bilan").click()
    wait_text(browser, "doit être un nombre entier")
    assert browser.find_element(By.ID, "erreur-annee").text == "doit être un nombre entier"
    screenshot(browser, "portail-financeur-4-erreur-annee")
