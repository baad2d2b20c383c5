"""A lean HTTP/1.1 load generator for the benchmarks: keep-alive connections on raw asyncio streams.

The load runs on the same 2 cores as the service it measures: a general-purpose client (httpx: about 5 ms of CPU per
request here) would measure itself. This one writes prepared request bytes and reads the status line, the headers
and a `Content-Length` body, nothing more (uvicorn answers every JSON request with a Content-Length), like wrk.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)  # seconds, one per answered request
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0
    samples: list[bytes] = field(default_factory=list)  # the body of a few answers that were not 2xx


def request_bytes(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, server keeps the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, keep = 0, True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            keep = False
    return status, await reader.readexactly(length), keep


async def post_for(host: str, port: int, path: str, bodies: Iterator[bytes], headers: dict[str, str], *,
                   clients: int, seconds: float) -> Load:
    """`clients` connections each POST the next body as soon as the previous answer came, for `seconds`."""
    load = Load()
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                writer.write(request_bytes(host, path, next(bodies), headers))
                status, body, keep = await _answer(reader)
                load.latencies.append(time.perf_counter() - began)
                load.statuses[status] = load.statuses.get(status, 0) + 1
                if status >= 300 and len(load.samples) < 5:
                    load.samples.append(body[:300])
                if not keep:
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    load.elapsed = time.perf_counter() - started
    return load
