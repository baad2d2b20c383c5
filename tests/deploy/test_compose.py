"""Static checks of the deployment files: docker-compose.yml and deploy/.

No Docker engine is needed: the files are parsed and cross-checked against each other (service ports, database
URLs against the PostgreSQL init script, Prometheus targets against compose service names, Grafana provisioning
against the dashboard). One test also runs deploy/postgres/init.sql against a real PostgreSQL, when one is
reachable, under uniquely renamed roles and databases that it drops afterwards.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DEPLOY = REPO / "deploy"
INIT_SQL = DEPLOY / "postgres" / "init.sql"
PROMETHEUS_FILE = DEPLOY / "prometheus" / "prometheus.yml"
GRAFANA_DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
GRAFANA_DASHBOARD_PROVIDERS = DEPLOY / "grafana" / "provisioning" / "dashboards" / "dashboards.yml"
GRAFANA_DASHBOARDS_DIR = DEPLOY / "grafana" / "dashboards"

# Python package name -> HTTP port (fixed by the design).
SERVICES = {"market_intake": 8001, "matching": 8002, "hours": 8003, "reporting": 8004}
NATS_CLIENT_PORT = 4222


# --------------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<default>[^}]*))?\}")


def interpolate(value: str) -> str:
    """Resolve Compose `${VAR:-default}` / `${VAR-default}` with an empty environment (the demo defaults).

    The process environment is ignored on purpose, so that the checks do not depend on the shell running them.
    A variable without default would be empty in Compose: that is reported as an error here.
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group("op") in (":-", "-"):
            return match.group("default")
        raise AssertionError(f"{value!r}: ${{{match.group('name')}}} has no default value")

    return _INTERPOLATION.sub(replace, value)


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the `- KEY=value` form
        env = dict(item.split("=", 1) for item in env)
    return {key: interpolate(str(value)) for key, value in env.items()}


def command_of(service: dict) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def flag_value(command: list[str], *flags: str) -> str | None:
    for index, part in enumerate(command):
        if part in flags and index + 1 < len(command):
            return command[index + 1]
        for flag in flags:
            if part.startswith(flag + "="):
                return part.split("=", 1)[1]
    return None


def container_ports(service: dict) -> set[int]:
    ports = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            ports.add(int(str(entry).split("/")[0].rsplit(":", 1)[-1]))
    return ports


def healthcheck_text(service: dict) -> str:
    test = (service.get("healthcheck") or {}).get("test")
    assert test, "no healthcheck test"
    return " ".join(test) if isinstance(test, list) else str(test)


def bind_mounts(service: dict) -> dict[Path, str]:
    """Host path (resolved against the repo) -> container path, for the short `./src:/dst[:ro]` syntax."""
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts[(REPO / volume["source"]).resolve()] = volume["target"]
            continue
        source, target = str(volume).split(":")[:2]
        if source.startswith((".", "/")):
            mounts[(REPO / source).resolve()] = target
    return mounts


def named_volumes(service: dict) -> dict[str, str]:
    """Named volume -> container path."""
    result = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
            if not source.startswith((".", "/")):
                result[source] = target
    return result


def depends_on(service: dict) -> dict[str, str | None]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: None for name in deps}
    return {name: (spec or {}).get("condition") for name, spec in deps.items()}


# --------------------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def app_services(services: dict) -> dict[str, tuple[str, dict]]:
    """Python service name -> (compose service name, compose definition), found by the module uvicorn runs."""
    found: dict[str, tuple[str, dict]] = {}
    for compose_name, definition in services.items():
        command = command_of(definition)
        for name in SERVICES:
            if f"services.{name}.app:app" in command:
                assert name not in found, f"services.{name} is run by two compose services"
                found[name] = (compose_name, definition)
    assert set(found) == set(SERVICES), f"missing services: {sorted(set(SERVICES) - set(found))}"
    return found


@pytest.fixture(scope="module")
def nats_nodes(services: dict) -> dict[str, dict]:
    nodes = {
        name: definition
        for name, definition in services.items()
        if str(definition.get("image", "")).split(":")[0].split("/")[-1] == "nats"
    }
    assert nodes, "no NATS service in docker-compose.yml"
    return nodes


@pytest.fixture(scope="module")
def init_sql() -> str:
    return INIT_SQL.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def dashboards() -> dict[Path, dict]:
    files = sorted(GRAFANA_DASHBOARDS_DIR.glob("*.json"))
    assert files, "no dashboard JSON in deploy/grafana/dashboards"
    return {path: json.loads(path.read_text(encoding="utf-8")) for path in files}


# --------------------------------------------------------------------------------------------------------------
# the four services
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_service_runs_uvicorn_on_its_port(app_services, name):
    _, service = app_services[name]
    command = command_of(service)
    port = SERVICES[name]
    assert command[0] == "uvicorn", command
    assert flag_value(command, "--host") == "0.0.0.0", command
    assert flag_value(command, "--port") == str(port), command
    assert port in container_ports(service), f"{name}: port {port} not published"


@pytest.mark.parametrize("name", SERVICES)
def test_service_image_is_built_from_the_repo_dockerfile(app_services, name):
    _, service = app_services[name]
    build = service.get("build")
    assert isinstance(build, dict), f"{name}: no build section"
    context = (REPO / build.get("context", ".")).resolve()
    assert context == REPO, "the build context must be the repository root (pip install . needs it)"
    dockerfile = (context / build.get("dockerfile", "Dockerfile")).resolve()
    assert dockerfile.is_file(), dockerfile


@pytest.mark.parametrize("name", SERVICES)
def test_service_has_its_own_database_url(app_services, services, name):
    compose_name, service = app_services[name]
    env = env_of(service)
    variable = f"{name.upper()}_DATABASE_URL"
    assert variable in env, f"{compose_name}: {variable} missing"
    others = {f"{other.upper()}_DATABASE_URL" for other in SERVICES if other != name}
    assert not others & set(env), f"{compose_name} must not know other services' databases: {others & set(env)}"

    url = urlsplit(env[variable])
    assert url.scheme == "postgresql+asyncpg", url.scheme
    assert url.hostname in services, f"database host {url.hostname!r} is not a compose service"
    assert url.port == 5432
    assert url.path == f"/{name}", f"{variable} points to database {url.path!r}"
    assert url.username == name, f"{variable} logs in as {url.username!r}"
    assert url.password, f"{variable} has no password"


def test_database_urls_are_distinct(app_services):
    urls = [env_of(service)[f"{name.upper()}_DATABASE_URL"] for name, (_, service) in app_services.items()]
    databases = [urlsplit(url).path for url in urls]
    users = [urlsplit(url).username for url in urls]
    assert len(set(urls)) == len(databases) == len(set(databases)) == len(set(users)) == 4


@pytest.mark.parametrize("name", SERVICES)
def test_service_nats_url_lists_every_jetstream_node(app_services, nats_nodes, name):
    _, service = app_services[name]
    env = env_of(service)
    assert env.get("NATS_URL"), f"{name}: NATS_URL missing"
    hosts = set()
    for server in env["NATS_URL"].split(","):
        url = urlsplit(server.strip())
        assert url.scheme == "nats", server
        assert url.port == NATS_CLIENT_PORT, server
        assert url.hostname in nats_nodes, f"{url.hostname!r} is not a NATS compose service"
        hosts.add(url.hostname)
    assert hosts == set(nats_nodes), f"NATS_URL should list every node for fail-over: {sorted(nats_nodes)}"


def test_stream_replicas_fit_the_nats_cluster(app_services, nats_nodes):
    """JetStream refuses more replicas than servers; with a cluster, streams should actually be replicated."""
    for name, (_, service) in app_services.items():
        replicas = int(env_of(service).get("STREAM_REPLICAS", "1"))
        assert 1 <= replicas <= len(nats_nodes), f"{name}: STREAM_REPLICAS={replicas} for {len(nats_nodes)} nodes"
        if len(nats_nodes) >= 3:
            assert replicas >= 3, f"{name}: streams are not replicated across the NATS cluster"


def test_services_share_tokens_and_log_as_json(app_services):
    envs = {name: env_of(service) for name, (_, service) in app_services.items()}
    for name, env in envs.items():
        assert env.get("FACILITATOR_TOKEN"), f"{name}: FACILITATOR_TOKEN missing"
        assert env.get("TOKEN_SECRET"), f"{name}: TOKEN_SECRET missing"
        assert env.get("LOG_FORMAT") == "json", f"{name}: LOG_FORMAT must be json"
    # A token signed by one service is verified by the others: one secret for all.
    assert len({env["TOKEN_SECRET"] for env in envs.values()}) == 1
    assert len({env["FACILITATOR_TOKEN"] for env in envs.values()}) == 1


@pytest.mark.parametrize("name", SERVICES)
def test_service_healthcheck_probes_its_own_readiness(app_services, name):
    _, service = app_services[name]
    text = healthcheck_text(service)
    port = SERVICES[name]
    assert re.search(rf"//(127\.0\.0\.1|localhost):{port}/health/ready\b", text), text
    # Every other service port must be absent (a copy-paste slip would probe another service's port).
    for other, other_port in SERVICES.items():
        if other != name:
            assert f":{other_port}/" not in text, f"{name} probes port {other_port}"
    # The slim image has no curl/wget: the probe must use python.
    assert "python" in text
    assert (service.get("healthcheck") or {}).get("test")[0] in ("CMD", "CMD-SHELL")


@pytest.mark.parametrize("name", SERVICES)
def test_service_waits_for_healthy_nats_and_postgres(app_services, nats_nodes, name):
    _, service = app_services[name]
    deps = depends_on(service)
    assert deps.get("postgres") == "service_healthy", deps
    for node in nats_nodes:
        assert deps.get(node) == "service_healthy", f"{name} does not wait for {node}: {deps}"


# --------------------------------------------------------------------------------------------------------------
# NATS
# --------------------------------------------------------------------------------------------------------------


def test_nats_nodes_run_jetstream_on_a_volume(compose, nats_nodes):
    for name, node in nats_nodes.items():
        command = command_of(node)
        assert "-js" in command or "--jetstream" in command, f"{name}: JetStream not enabled: {command}"
        store = flag_value(command, "-sd", "--store_dir")
        assert store, f"{name}: no JetStream store directory"
        volumes = named_volumes(node)
        assert store in volumes.values(), f"{name}: store {store} is not on a volume: {volumes}"
        for volume in volumes:
            assert volume in (compose.get("volumes") or {}), f"volume {volume} not declared"
        assert flag_value(command, "-m", "--http_port") == "8222", f"{name}: monitoring port missing"
        assert "/healthz" in healthcheck_text(node), f"{name}: healthcheck should use the monitoring /healthz"


def test_nats_cluster_is_consistent(nats_nodes):
    if len(nats_nodes) == 1:
        pytest.skip("single NATS node: no cluster to check")
    assert len(nats_nodes) >= 3, "a JetStream cluster needs at least 3 nodes for a quorum"
    names, cluster_names, volumes = [], set(), []
    for name, node in nats_nodes.items():
        command = command_of(node)
        names.append(flag_value(command, "-n", "--name", "--server_name"))
        cluster_names.add(flag_value(command, "--cluster_name"))
        volumes.extend(named_volumes(node))
        routes = {urlsplit(route).hostname for route in (flag_value(command, "--routes") or "").split(",")}
        assert set(nats_nodes) - {name} <= routes, f"{name} does not route to every other node: {routes}"
    assert len(set(names)) == len(names) and None not in names, f"server names must be unique: {names}"
    assert len(cluster_names) == 1 and None not in cluster_names, cluster_names
    assert len(set(volumes)) == len(volumes), "each node needs its own store volume"


# --------------------------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------------------------


def test_postgres_runs_the_init_script(services):
    postgres = services["postgres"]
    assert str(postgres["image"]).startswith("postgres:15"), postgres["image"]
    target = bind_mounts(postgres).get(INIT_SQL.resolve())
    assert target and target.startswith("/docker-entrypoint-initdb.d/"), bind_mounts(postgres)
    assert "/var/lib/postgresql/data" in named_volumes(postgres).values()
    # Readiness over TCP: the temporary server of the init phase only listens on the Unix socket.
    text = healthcheck_text(postgres)
    assert "pg_isready" in text and re.search(r"-h\s+(127\.0\.0\.1|localhost)", text), text


@pytest.mark.parametrize("name", SERVICES)
def test_init_script_creates_the_role_and_database(init_sql, name):
    sql = re.sub(r"--[^\n]*", "", init_sql)  # ignore comments
    assert re.search(rf"CREATE\s+ROLE\s+{name}\s+[^;]*\bLOGIN\b", sql, re.I), f"no login role {name}"
    assert re.search(rf"CREATE\s+DATABASE\s+{name}\s+OWNER\s+{name}\s*;", sql, re.I), f"no database {name}"
    assert re.search(
        rf"REVOKE\s+(ALL|CONNECT)\b[^;]*\bON\s+DATABASE\s+{name}\s+FROM\s+PUBLIC\s*;", sql, re.I
    ), f"database {name} stays open to every role"


@pytest.mark.parametrize("name", SERVICES)
def test_database_url_password_matches_the_init_script(init_sql, services, app_services, name):
    """The password a service uses must be the one its role receives, with or without the override variable."""
    _, service = app_services[name]
    password = unquote(urlsplit(env_of(service)[f"{name.upper()}_DATABASE_URL"]).password or "")

    default = re.search(rf"^\\set\s+{name}_password\s+(\S+)\s*$", init_sql, re.M)
    getenv = re.search(rf"^\\getenv\s+{name}_password\s+(\w+)\s*$", init_sql, re.M)
    assert re.search(rf"PASSWORD\s+:'{name}_password'", init_sql), f"role {name} does not use its password"
    assert default, f"no default password for {name}"
    if getenv is None:
        assert password == default.group(1)
        return
    postgres_env = env_of(services["postgres"])
    variable = getenv.group(1)
    assert variable in postgres_env, f"postgres container does not receive {variable}"
    assert postgres_env[variable] == password, f"{variable}: postgres gets {postgres_env[variable]!r}"
    raw_url = (service.get("environment") or {})[f"{name.upper()}_DATABASE_URL"]
    raw_postgres = services["postgres"]["environment"][variable]
    # Same variable on both sides, so that an override reaches the role and the URL together.
    assert f"${{{variable}" in raw_url and f"${{{variable}" in raw_postgres


def _admin_dsn() -> str:
    url = os.environ.get("TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


@pytest.mark.postgres
def test_init_script_isolates_services_on_a_real_postgres(init_sql, tmp_path):
    """Run init.sql with psql (it uses psql meta-commands) under renamed roles and databases, then check that each
    role reaches its own database only and can create tables there."""
    psycopg = pytest.importorskip("psycopg")
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql client not installed")
    dsn = _admin_dsn()
    try:
        admin = psycopg.connect(dsn, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        pytest.skip(f"no PostgreSQL reachable at {dsn} (set TEST_POSTGRES_URL): {error}")

    suffix = "_t" + uuid.uuid4().hex[:8]
    renamed = {name: name + suffix for name in SERVICES}
    script = re.sub(r"\b(" + "|".join(SERVICES) + r")\b", lambda m: renamed[m.group(1)], init_sql)
    script_file = tmp_path / "init.sql"
    script_file.write_text(script, encoding="utf-8")
    # Exercise the \getenv override for one service, and the defaults for the others.
    passwords = {renamed[name]: renamed[name] for name in SERVICES}
    passwords[renamed["hours"]] = "from-env-p@ss"
    env = {**os.environ, "HOURS_DB_PASSWORD": passwords[renamed["hours"]]}
    for variable in ("MARKET_INTAKE_DB_PASSWORD", "MATCHING_DB_PASSWORD", "REPORTING_DB_PASSWORD"):
        env.pop(variable, None)

    with admin:
        privileges = admin.execute(
            "SELECT rolsuper OR (rolcreaterole AND rolcreatedb) FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        if not privileges or not privileges[0]:
            pytest.skip("the PostgreSQL account cannot create roles and databases")
        try:
            result = subprocess.run(
                [psql, dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(script_file)],
                env=env, capture_output=True, text=True, timeout=60,
            )
            assert result.returncode == 0, result.stderr

            server = admin.info
            for role in renamed.values():
                row = admin.execute(
                    "SELECT r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole, pg_get_userbyid(d.datdba) "
                    "FROM pg_roles r JOIN pg_database d ON d.datname = r.rolname WHERE r.rolname = %s",
                    (role,),
                ).fetchone()
                assert row == (True, False, False, False, role), row

                def connect(database: str, role: str = role):
                    return psycopg.connect(
                        host=server.host, port=server.port, dbname=database,
                        user=role, password=passwords[role], connect_timeout=3, autocommit=True,
                    )

                with connect(role) as own:
                    own.execute("CREATE TABLE probe (id integer PRIMARY KEY)")
                    own.execute("INSERT INTO probe VALUES (1)")
                for other in renamed.values():
                    if other != role:
                        with pytest.raises(psycopg.OperationalError, match="permission denied"):
                            connect(other).close()
        finally:
            for role in renamed.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{role}" WITH (FORCE)')
                admin.execute(f'DROP ROLE IF EXISTS "{role}"')


# --------------------------------------------------------------------------------------------------------------
# Prometheus and Grafana
# --------------------------------------------------------------------------------------------------------------


def test_prometheus_scrapes_every_service(services, app_services):
    assert bind_mounts(services["prometheus"]).get(PROMETHEUS_FILE.resolve()) == "/etc/prometheus/prometheus.yml"
    config = yaml.safe_load(PROMETHEUS_FILE.read_text(encoding="utf-8"))
    scraped: set[tuple[str, int, str]] = set()
    for job in config["scrape_configs"]:
        path = job.get("metrics_path", "/metrics")
        for static in job.get("static_configs") or []:
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                scraped.add((host, int(port), path))
        for dns in job.get("dns_sd_configs") or []:
            assert dns.get("type", "SRV") == "A" and dns.get("port"), "A records need an explicit port"
            for host in dns["names"]:
                scraped.add((host, int(dns["port"]), path))
    for name, (compose_name, _) in app_services.items():
        assert (compose_name, SERVICES[name], "/metrics") in scraped, f"{name} not scraped: {sorted(scraped)}"
    assert ("portal", 8000, "/metrics") in scraped
    job_names = [job["job_name"] for job in config["scrape_configs"]]
    assert len(job_names) == len(set(job_names))


def test_portal_serves_the_pages_and_calls_the_four_services(services, app_services):
    portal = services["portal"]
    command = command_of(portal)
    assert "services.portal.app:app" in command and flag_value(command, "--port") == "8000", command
    assert 8000 in container_ports(portal)
    env = env_of(portal)
    assert not [v for v in env if v.endswith("_DATABASE_URL")], "the portal owns no data"
    for name, (compose_name, _) in app_services.items():
        url = urlsplit(env[f"PORTAL_{name.upper()}_URL"])
        assert (url.hostname, url.port) == (compose_name, SERVICES[name]), url.geturl()
        assert portal["depends_on"][compose_name]["condition"] == "service_healthy"
    assert env["TOKEN_SECRET"] == env_of(app_services["hours"][1])["TOKEN_SECRET"]
    assert env["PORTAL_SESSION_SECRET"]


def test_grafana_datasource_points_to_prometheus(services):
    grafana = services["grafana"]
    mounts = bind_mounts(grafana)
    assert mounts.get((DEPLOY / "grafana" / "provisioning").resolve()) == "/etc/grafana/provisioning"
    config = yaml.safe_load(GRAFANA_DATASOURCES.read_text(encoding="utf-8"))
    assert config["apiVersion"] == 1
    (datasource,) = [ds for ds in config["datasources"] if ds["type"] == "prometheus"]
    url = urlsplit(datasource["url"])
    assert url.hostname in services and url.port == 9090, datasource["url"]
    assert datasource["uid"] and datasource.get("isDefault") is True


def test_grafana_loads_the_dashboards_folder(services):
    config = yaml.safe_load(GRAFANA_DASHBOARD_PROVIDERS.read_text(encoding="utf-8"))
    assert config["apiVersion"] == 1
    paths = {provider["options"]["path"] for provider in config["providers"] if provider["type"] == "file"}
    mounted = bind_mounts(services["grafana"]).get(GRAFANA_DASHBOARDS_DIR.resolve())
    assert mounted in paths, f"dashboards mounted at {mounted}, provisioned from {paths}"
    home = env_of(services["grafana"]).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        assert (GRAFANA_DASHBOARDS_DIR / Path(home).relative_to(mounted)).is_file(), home


def _exprs(dashboard: dict) -> list[str]:
    exprs = []
    for panel in dashboard["panels"]:
        exprs.extend(target["expr"] for target in panel.get("targets", []))
        for inner in panel.get("panels", []):  # collapsed rows
            exprs.extend(target["expr"] for target in inner.get("targets", []))
    return exprs


def test_dashboard_graphs_the_platform_metrics(dashboards):
    datasource_uid = yaml.safe_load(GRAFANA_DATASOURCES.read_text(encoding="utf-8"))["datasources"][0]["uid"]
    exprs = [expr for dashboard in dashboards.values() for expr in _exprs(dashboard)]
    text = "\n".join(exprs)
    assert re.search(r"histogram_quantile\(\s*0\.99\s*,.*http_request_duration_seconds_bucket", text), text
    assert any("http_request_duration_seconds_bucket" in e and re.search(r"by \([^)]*\ble\b", e) for e in exprs)
    for metric in ("outbox_backlog", "dead_letters_total", "faststream_received_messages_total"):
        assert re.search(rf"\b{metric}\b", text), f"no panel uses {metric}"

    uids = set()
    for path, dashboard in dashboards.items():
        assert dashboard.get("uid") and dashboard.get("title"), path
        uids.add(dashboard["uid"])
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in dashboard["panels"]:
            if panel.get("type") == "row":
                continue
            assert panel["datasource"]["uid"] == datasource_uid, f"{path.name}: {panel['title']}"
            assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
            for target in panel["targets"]:
                assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
    assert len(uids) == len(dashboards), "dashboard uids must be unique"


# --------------------------------------------------------------------------------------------------------------
# Dockerfile
# --------------------------------------------------------------------------------------------------------------


def test_dockerfile_builds_a_non_root_python_311_image(app_services):
    _, service = next(iter(app_services.values()))
    dockerfile = (REPO / service["build"].get("context", ".") / service["build"]["dockerfile"]).resolve()
    instructions = [
        line.strip() for line in dockerfile.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert [line for line in instructions if line.startswith("FROM ")] == ["FROM python:3.11-slim"]
    text = "\n".join(instructions)
    assert re.search(r"pip install\b.*\s\.(\s|$)", text), "the project is not installed with pip install ."
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), f"the image runs as {users[-1:] or 'root'}"
    # The build context must not ship the local virtualenv or git data.
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
    if not ignore.exists():
        ignore = REPO / ".dockerignore"
    patterns = set(ignore.read_text(encoding="utf-8").split())
    assert {".venv", ".git"} <= patterns, patterns
