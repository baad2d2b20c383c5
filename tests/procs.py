"""Services as real processes (uvicorn), for tests that kill -9 them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from harness import SECRET, TOKEN, free_port

REPO = Path(__file__).resolve().parents[1]


class ServiceProcess:
    def __init__(self, name: str, workdir: Path, nats_url: str, database_url: str | None = None, **settings: str):
        self.name = name
        self.port = free_port()
        self.log_path = workdir / f"{name}.log"
        prefix = name.upper()
        self.env = {
            **os.environ,
            "NATS_URL": nats_url,
            "FACILITATOR_TOKEN": TOKEN,
            "TOKEN_SECRET": SECRET,
            "VAR_DIR": str(workdir),
            "LOG_FORMAT": "text",
            "LOG_LEVEL": "WARNING",
            f"{prefix}_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{workdir / f'{name}.db'}",
            f"{prefix}_RELAY_POLL_SECONDS": "0.05",
            f"{prefix}_CONSUMER_RETRY_DELAY_SECONDS": "0.1",
            f"{prefix}_GRACEFUL_TIMEOUT_SECONDS": "2",
            **{f"{prefix}_{k.upper()}": v for k, v in settings.items()},
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept for the process's life
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", f"services.{self.name}.app:app", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} s'est arrêté : {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} pas prêt en {timeout}s : {self.log_tail()}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
