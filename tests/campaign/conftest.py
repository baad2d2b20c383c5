"""Fixtures of the bad-input campaign."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from campaign.campaign_support import Fleet, running_fleet


@pytest.fixture(scope="package")
def fleet(tmp_path_factory: pytest.TempPathFactory, nats_session_url: str) -> Iterator[Fleet]:
    """The four services, seeded once for the whole campaign: the authorisation tests run first (file order) on
    the world as seeded, then the fuzzing may change it (close lots, erase people...), which is part of its job."""
    with running_fleet(tmp_path_factory.mktemp("fleet"), nats_session_url) as running:
        yield running
