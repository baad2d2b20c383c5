"""Helpers for the portal's tests: the running stack (four services + the portal as real processes), the headless
Chromium, signing in, screenshots."""

from __future__ import annotations

import os
import random
import shutil
import uuid
from pathlib import Path

import pytest
from harness import SECRET, NatsProcess, eventually, free_port
from matching.matching_support import COMPANY_SIRET, beneficiary
from procs import REPO, ServiceProcess
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from examples import buyer_request, market_request
from shared.auth import Role, issue_token

SERVICES = ("market_intake", "matching", "hours", "reporting")
WAIT_SECONDS = 30  # generous: the suite may share two cores with much else


class PortalStack:
    """The four services and the portal, each a uvicorn process, on a NATS server of their own (so they never
    share durable consumers with the in-process services of other tests)."""

    def __init__(self, workdir: Path) -> None:
        self.nats = NatsProcess(workdir / "nats", free_port())
        nats_url = self.nats.url
        self.processes = {name: ServiceProcess(name, workdir, nats_url) for name in SERVICES}
        urls = {f"{name}_url": p.url for name, p in self.processes.items()}
        self.processes["portal"] = ServiceProcess("portal", workdir, nats_url, cookie_secure="false",
                                                  request_timeout_seconds="30", **urls)  # busy CI cores

    @property
    def portal_url(self) -> str:
        return self.processes["portal"].url

    def service(self, name: str) -> ServiceProcess:
        return self.processes[name]

    def token(self, role: Role, buyer_id: uuid.UUID | str | None = None, subject: str = "") -> str:
        buyer = uuid.UUID(str(buyer_id)) if buyer_id is not None else None
        return issue_token(SECRET, role, buyer_id=buyer, subject=subject)

    def start(self) -> None:
        self.nats.start()
        for process in self.processes.values():
            process.start()
        for process in self.processes.values():
            process.wait_ready(180)  # five processes importing at once on two busy cores

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()
        self.nats.stop()


def siret() -> str:
    """A random valid SIRET (Luhn key), so that tests sharing the stack never create the same buyer twice."""
    digits = [random.randint(0, 9) for _ in range(13)]
    for key in range(10):
        candidate = [*digits, key]
        total = sum(d if i % 2 == 0 else (2 * d - 9 if d > 4 else 2 * d) for i, d in enumerate(reversed(candidate)))
        if total % 10 == 0:
            return "".join(map(str, candidate))
    raise AssertionError("unreachable: one key digit always completes a Luhn number")


def chrome(profile: Path) -> WebDriver:
    """Debian's chromium and chromedriver, headless; selenium-manager never downloads anything."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None or not Path("/usr/bin/chromedriver").exists():
        pytest.skip("Chromium absent : `apt-get install chromium chromium-driver` (.ci/run l'installe)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--lang=fr-FR", "--window-size=1280,1600", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"))


def sign_in(browser: WebDriver, portal_url: str, token: str) -> None:
    """Sign in through the form, as a person would, and wait for the role's home page."""
    browser.get(f"{portal_url}/connexion")
    browser.find_element(By.ID, "jeton").send_keys(token)
    browser.find_element(By.ID, "se-connecter").click()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda b: "/connexion" not in b.current_url)


def screenshot(browser: WebDriver, name: str) -> Path:
    """Full-page PNG under var/screenshots/ (VAR_DIR when set), for a person to look at."""
    out = Path(os.environ.get("VAR_DIR", REPO / "var")) / "screenshots" / f"{name}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, max(900, min(int(height), 6000)))
    browser.save_screenshot(str(out))
    browser.set_window_size(1280, 1600)
    return out


def wait_text(browser: WebDriver, text: str, timeout: float = WAIT_SECONDS) -> None:
    """Wait until `text` is visible somewhere on the page (htmx fragments arrive a moment later)."""
    try:
        WebDriverWait(browser, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda b: text in b.find_element(By.TAG_NAME, "body").text)  # the page may change between the two calls
    except Exception as exc:
        body = browser.find_element(By.TAG_NAME, "body").text
        raise AssertionError(f"« {text} » jamais affiché en {timeout}s ; page : {body[:2000]}") from exc


# ---- data, seeded through the services' HTTP APIs with the facilitator's token -----------------------------------
async def create_buyer(stack: PortalStack, name: str, siret: str) -> str:
    async with stack.service("market_intake").client() as client:
        response = await client.post("/buyers", json=buyer_request(name, siret))
        assert response.status_code == 201, response.text
        return response.json()["id"]


async def create_market(stack: PortalStack, buyer_id: str, reference: str, **lot_changes: str) -> dict:
    async with stack.service("market_intake").client() as client:
        response = await client.post("/markets", json=market_request(buyer_id, reference, **lot_changes))
        assert response.status_code == 201, response.text
        return response.json()


async def record_hours(stack: PortalStack, lot_id: str, start: str, month: str, hours: str) -> None:
    """Award the lot (at its estimated amount), place one person on it (direct hire) from `start`, and record
    `hours` for `month`; returns once the hours service has accepted them."""
    async with stack.service("market_intake").client() as client:
        amount = (await client.get(f"/lots/{lot_id}")).json()["amount_eur"]
        awarded = await client.post(f"/lots/{lot_id}/award", json={
            "company_siret": COMPANY_SIRET, "company_name": "Bâtiments d'Armor", "amount_eur": amount})
        assert awarded.status_code == 200, awarded.text
    criteria = [{"code": "RSA", "proof_type": "attestation CAF", "checked_on": start,
                 "prescriber": "Département d'Ille-et-Vilaine"}]
    async with stack.service("matching").client() as client:
        person = await client.post("/beneficiaries", json=beneficiary(
            "Camille", f"Durand {uuid.uuid4().hex[:6]}", "1988-04-12", criteria=criteria))
        assert person.status_code == 201, person.text
        body = {"lot_id": lot_id, "beneficiary_id": person.json()["id"], "modality": "direct_hire",
                "employer_siret": COMPANY_SIRET, "contract_type": "CDD", "start_date": start}

        async def placed() -> str | None:  # matching hears of the award a moment later
            r = await client.post("/placements", json=body)
            assert r.status_code in (201, 404, 409), r.text
            return r.json()["id"] if r.status_code == 201 else None

        placement_id = await eventually(placed, timeout=60, interval=0.2)
    async with stack.service("hours").client() as client:
        async def recorded() -> bool:  # hours hears of the placement a moment later
            r = await client.post("/hours", json={"placement_id": placement_id, "month": month, "hours": hours})
            waiting = r.status_code == 422 and r.json()["errors"][0]["field"] == "placement_id"
            assert r.status_code == 201 or waiting, r.text
            return r.status_code == 201

        await eventually(recorded, timeout=60, interval=0.2)
