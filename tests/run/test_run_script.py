"""`scripts/run.py` (what `make run` executes) starts NATS, the portal and the four services, prints the portal's
URL first, and Ctrl-C stops them all.

Runs the real script as a subprocess, on free ports, with a temporary VAR_DIR and a NATS URL nobody
answers, so the script has to start its bundled nats-server itself.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_SCRIPT = REPO_ROOT / "scripts" / "run.py"
HOST = "127.0.0.1"
SERVICES = {
    "portal": "PORTAL_PORT",
    "market_intake": "MARKET_INTAKE_PORT",
    "matching": "MATCHING_PORT",
    "hours": "HOURS_PORT",
    "reporting": "REPORTING_PORT",
}
READY_TIMEOUT = 60.0
EXIT_TIMEOUT = 20.0

# Never send these local requests through an HTTP proxy configured in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_ports(count: int) -> list[int]:
    """`count` distinct ports that were free a moment ago (all sockets held open until all are chosen)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def http_get(url: str) -> tuple[int, str]:
    """Status and body; (0, reason) when nothing answers."""
    try:
        with _OPENER.open(url, timeout=5) as response:
            return response.status, response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


def script_env(var_dir: Path, nats_port: int, service_ports: dict[str, int]) -> dict[str, str]:
    env = dict(os.environ)
    for name in SERVICES:  # keep every service on SQLite under the temporary VAR_DIR
        env.pop(f"{name.upper()}_DATABASE_URL", None)
    env.update(
        {
            "VAR_DIR": str(var_dir),
            "NATS_URL": f"nats://{HOST}:{nats_port}",
            "HOST": HOST,
            "RUN_READY_TIMEOUT": "90",  # longer than ours, so our own assertion reports a slow start
            "NO_COLOR": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({SERVICES[name]: str(port) for name, port in service_ports.items()})
    return env


def wait_until_ready(process: subprocess.Popen, service_ports: dict[str, int], output) -> None:
    pending = dict(service_ports)
    deadline = time.monotonic() + READY_TIMEOUT
    last: dict[str, tuple[int, str]] = {}
    while pending:
        assert process.poll() is None, (
            f"scripts/run.py exited early with code {process.returncode}\n{output()}"
        )
        for name, port in list(pending.items()):
            last[name] = http_get(f"http://{HOST}:{port}/health/ready")
            if last[name][0] == 200:
                del pending[name]
        if not pending:
            return
        assert time.monotonic() < deadline, (
            f"not ready within {READY_TIMEOUT:.0f} s: "
            + ", ".join(f"{name} -> {last[name][0]} {last[name][1][:200]}" for name in pending)
            + f"\n--- scripts/run.py output ---\n{output()}"
        )
        time.sleep(0.5)


def test_run_script_starts_everything_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    nats_port, *ports = free_ports(1 + len(SERVICES))
    service_ports = dict(zip(SERVICES, ports))
    assert not accepts_connections(nats_port)
    log_path = tmp_path / "run.log"

    def output() -> str:
        return log_path.read_text(encoding="utf-8", errors="replace")

    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(RUN_SCRIPT)],
            cwd=REPO_ROOT,
            env=script_env(tmp_path / "var", nats_port, service_ports),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(process, service_ports, output)
        assert accepts_connections(nats_port), f"the script did not start NATS\n{output()}"
        assert (tmp_path / "var" / "nats").is_dir(), f"NATS store not under VAR_DIR\n{output()}"

        portal = f"http://{HOST}:{service_ports['portal']}"
        deadline = time.monotonic() + READY_TIMEOUT  # the script prints its banner after its own readiness poll
        while "Plateforme prête" not in output() and time.monotonic() < deadline:
            time.sleep(0.2)
        urls = re.findall(r"http://[\w.:\[\]]+", output().split("Plateforme prête", 1)[-1])
        assert urls and urls[0] == portal, f"the portal's URL is not printed first\n{output()}"
        status, body = http_get(f"{portal}/connexion")
        assert status == 200 and "Connexion" in body, f"portal /connexion -> {status}\n{output()}"
        status, body = http_get(f"{portal}/health/ready")  # the portal found the four services
        assert status == 200 and body.count('"ok"') == 5, body

        for name, port in service_ports.items():
            if name == "portal":  # no database, no bus: no outbox nor faststream metrics
                continue
            status, body = http_get(f"http://{HOST}:{port}/metrics")
            assert status == 200, f"{name} /metrics -> {status}: {body[:500]}\n{output()}"
            assert "outbox_backlog" in body, f"{name} /metrics lacks outbox_backlog:\n{body}"
            assert re.search(r"\bfaststream_[a-z0-9_]+", body), (
                f"{name} /metrics lacks a faststream_* metric:\n{body}"
            )

        process.send_signal(signal.SIGINT)
        try:
            exit_code = process.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"scripts/run.py still running {EXIT_TIMEOUT:.0f} s after SIGINT\n{output()}"
            ) from None
        assert exit_code == 0, f"exit code {exit_code} after SIGINT\n{output()}"
        assert "Arrêt terminé." in output(), output()

        leftovers = [
            name
            for name, port in {"nats": nats_port, **service_ports}.items()
            if accepts_connections(port)
        ]
        assert not leftovers, f"still accepting connections after shutdown: {leftovers}\n{output()}"
    finally:
        if process.poll() is None:  # the script stops its children itself on SIGTERM
            process.terminate()
            try:
                process.wait(timeout=EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
