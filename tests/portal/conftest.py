"""Fixtures of the portal's tests.

`portal_stack` (the four services and the portal as processes, on a NATS server of their own) starts once for the
whole test session, on first use, because five processes take a while to start on two cores. Tests therefore
share its data: each creates its own buyers (`portal_support.siret()` gives a fresh valid SIRET) and markets, and
never assumes a service is empty. A test that stops a service starts it again before it ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from portal_support import PortalStack, chrome
from selenium.webdriver.remote.webdriver import WebDriver


@pytest.fixture(scope="session")
def portal_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalStack]:
    stack = PortalStack(tmp_path_factory.mktemp("portal"))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def _chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    driver = chrome(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(_chromium: WebDriver, portal_stack: PortalStack) -> WebDriver:
    """The session's headless Chromium, signed out (no portal cookie) at the start of each test."""
    _chromium.get(f"{portal_stack.portal_url}/health")
    _chromium.delete_all_cookies()
    return _chromium
