"""Static checks of the Kubernetes deployment: deploy/k8s/, deploy/prometheus/prometheus-k8s.yml and alerts.yml,
the Grafana dashboard and the operating guide.

No cluster runs here, so the manifests are parsed and cross-checked the way Kubernetes would resolve them: every
object well-formed and in the namespace, every Secret/ConfigMap reference resolvable, Services and budgets selecting
real pods, each service's environment fully expanded (envFrom + env + `$(VAR)` references) and checked against its
own PostgreSQL and the NATS StatefulSet. `kubectl kustomize` is used when installed (it renders offline); the init
script of the PostgreSQL instances is also run against a real PostgreSQL when one is reachable.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
PROMETHEUS_K8S = DEPLOY / "prometheus" / "prometheus-k8s.yml"
GRAFANA_DASHBOARDS_DIR = DEPLOY / "grafana" / "dashboards"
OPERATING = REPO / "docs" / "operating.md"

NAMESPACE = "clauses-sociales"
# Python package name -> HTTP port (fixed by the design).
SERVICES = {"market_intake": 8001, "matching": 8002, "hours": 8003, "reporting": 8004}
AUTOSCALED = ("hours", "reporting")
PORTAL_PORT = 8000  # the web pages; no database, no bus
NATS_CLIENT_PORT, NATS_CLUSTER_PORT, NATS_MONITOR_PORT = 4222, 6222, 8222
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet"}

# Metrics the services export (shared/metrics.py and FastStream's Prometheus middleware) and the NATS exporter's.
SERVICE_METRICS = {
    "http_request_duration_seconds", "outbox_backlog", "outbox_oldest_age_seconds", "outbox_published_total",
    "outbox_publish_errors_total", "events_consumed_total", "events_duplicate_total", "dead_letters_total",
    "dead_letters_pending", "faststream_received_messages_total", "faststream_published_messages_total",
    "faststream_received_processed_messages_duration_seconds",
    "faststream_received_processed_messages_exceptions_total",
}
NATS_EXPORTER_METRICS = {
    "jetstream_consumer_num_pending", "jetstream_consumer_num_ack_pending", "jetstream_consumer_num_redelivered",
}
KNOWN_METRICS = SERVICE_METRICS | NATS_EXPORTER_METRICS | {"up"}


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: `up` and the identifiers with a metric suffix (labels have none)."""
    return set(re.findall(r"\b(up|[a-z][a-z0-9_]*_(?:total|seconds|bucket|count|sum|pending|backlog))\b", expr))


def unknown_metrics(names: set[str]) -> set[str]:
    return {n for n in names if n not in KNOWN_METRICS and re.sub(r"_(bucket|count|sum)$", "", n) not in KNOWN_METRICS}


def k8s_name(service: str) -> str:
    return service.replace("_", "-")


# --------------------------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------------------------


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.y*ml") if p.name != "kustomization.yaml")


def load_objects() -> list[tuple[Path, dict]]:
    objects = []
    for path in manifest_files():
        for index, doc in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8"))):
            if doc is None:
                continue
            assert isinstance(doc, dict), f"{path.name} document {index} is not a mapping"
            objects.append((path, doc))
    return objects


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    found = [doc for _, doc in load_objects()]
    assert found, "no manifest in deploy/k8s"
    return found


@pytest.fixture(scope="module")
def index(objects) -> dict[tuple[str, str], dict]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in objects}


def get(index: dict, kind: str, name: str) -> dict:
    obj = index.get((kind, name))
    assert obj is not None, f"no {kind} named {name!r} in deploy/k8s"
    return obj


def of_kind(objects: list[dict], kind: str) -> list[dict]:
    return [doc for doc in objects if doc["kind"] == kind]


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def pod_labels(workload: dict) -> dict:
    return workload["spec"]["template"]["metadata"].get("labels") or {}


def selects(selector: dict, labels: dict) -> bool:
    """A Service selector (plain map) or a LabelSelector (matchLabels only) against pod labels."""
    match = selector.get("matchLabels", selector) if "matchLabels" in selector else selector
    assert match, "empty selector"
    assert not selector.get("matchExpressions"), "matchExpressions are not checked here"
    return all(labels.get(key) == value for key, value in match.items())


def workloads_selected(objects: list[dict], selector: dict) -> list[dict]:
    return [w for w in objects if w["kind"] in WORKLOADS and selects(selector, pod_labels(w))]


def secret_data(secret: dict) -> dict[str, str]:
    data = {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}
    data.update({key: str(value) for key, value in (secret.get("stringData") or {}).items()})
    return data


def container_port(container: dict, port: int | str) -> int:
    """Resolve a probe/Service target port (number or name) against the container's declared ports."""
    ports = container.get("ports") or []
    if isinstance(port, int) or str(port).isdigit():
        number = int(port)
        assert number in [p["containerPort"] for p in ports], f"{container['name']}: port {number} not declared"
        return number
    named = [p["containerPort"] for p in ports if p.get("name") == port]
    assert named, f"{container['name']}: no port named {port!r}"
    return named[0]


_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def effective_env(container: dict, index: dict) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom first, then env in order, `$(VAR)` expanded from
    the variables defined before. Every referenced ConfigMap / Secret / key must exist (no `optional`)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        assert not (source.get("configMapRef") or source.get("secretRef") or {}).get("optional"), source
        if "configMapRef" in source:
            env.update({k: str(v) for k, v in get(index, "ConfigMap", source["configMapRef"]["name"])["data"].items()})
        else:
            env.update(secret_data(get(index, "Secret", source["secretRef"]["name"])))
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = _VAR_REF.sub(lambda m: env.get(m.group(1), m.group(0)), str(item["value"]))
            assert "$(" not in env[item["name"]], f"{item['name']}: unresolved reference in {item['value']!r}"
            continue
        ref = item["valueFrom"]
        if "secretKeyRef" in ref:
            data = secret_data(get(index, "Secret", ref["secretKeyRef"]["name"]))
            key = ref["secretKeyRef"]["key"]
        elif "configMapKeyRef" in ref:
            data = get(index, "ConfigMap", ref["configMapKeyRef"]["name"])["data"]
            key = ref["configMapKeyRef"]["key"]
        else:  # fieldRef / resourceFieldRef: known only at run time
            env[item["name"]] = "<" + json.dumps(ref, sort_keys=True) + ">"
            continue
        assert key in data, f"{item['name']}: key {key!r} missing from {ref}"
        env[item["name"]] = str(data[key])
    return env


def service_deployment(index: dict, name: str) -> tuple[dict, dict]:
    deployment = get(index, "Deployment", k8s_name(name))
    containers = pod_spec(deployment)["containers"]
    (container,) = [c for c in containers if f"services.{name}.app:app" in " ".join(c.get("command", []) + c.get("args", []))]
    return deployment, container


def flag_value(args: list[str], *flags: str) -> str | None:
    for position, part in enumerate(args):
        if part in flags and position + 1 < len(args):
            return args[position + 1]
        for flag in flags:
            if part.startswith(flag + "="):
                return part.split("=", 1)[1]
    return None


# --------------------------------------------------------------------------------------------------------------
# every object
# --------------------------------------------------------------------------------------------------------------


def test_every_document_is_a_well_formed_object_in_the_namespace():
    loaded = load_objects()
    assert loaded
    for path, doc in loaded:
        where = f"{path.name}: {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        assert isinstance(doc.get("apiVersion"), str) and doc["apiVersion"], where
        assert isinstance(doc.get("kind"), str) and doc["kind"], where
        metadata = doc.get("metadata")
        assert isinstance(metadata, dict) and metadata.get("name"), where
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", metadata["name"]), f"{where}: not a DNS-1123 name"
        if doc["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in metadata, where
        else:
            assert metadata.get("namespace") == NAMESPACE, f"{where}: namespace {metadata.get('namespace')!r}"
        for key, value in (metadata.get("labels") or {}).items():
            assert isinstance(value, str), f"{where}: label {key} must be a string"
        for key, value in (metadata.get("annotations") or {}).items():
            assert isinstance(value, str), f"{where}: annotation {key} must be a string, not {value!r}"
    assert ("Namespace", NAMESPACE) in {(d["kind"], d["metadata"]["name"]) for _, d in loaded}


def test_objects_are_unique(objects):
    counts = Counter((doc["kind"], doc["metadata"]["name"]) for doc in objects)
    assert not [key for key, count in counts.items() if count > 1], counts.most_common(3)


def test_api_versions_are_the_stable_ones(objects):
    expected = {
        "Namespace": "v1", "ConfigMap": "v1", "Secret": "v1", "Service": "v1",
        "Deployment": "apps/v1", "StatefulSet": "apps/v1", "PodDisruptionBudget": "policy/v1",
        "HorizontalPodAutoscaler": "autoscaling/v2", "NetworkPolicy": "networking.k8s.io/v1",
        "Role": "rbac.authorization.k8s.io/v1", "RoleBinding": "rbac.authorization.k8s.io/v1",
    }
    for doc in objects:
        assert doc["kind"] in expected, f"unexpected kind {doc['kind']}"
        assert doc["apiVersion"] == expected[doc["kind"]], f"{doc['kind']}/{doc['metadata']['name']}"


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    assert kustomization["apiVersion"].startswith("kustomize.config.k8s.io/")
    assert kustomization["kind"] == "Kustomization"
    assert kustomization.get("namespace") == NAMESPACE
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources)), "a resource is listed twice"
    assert sorted(resources) == sorted(p.name for p in manifest_files())
    images = {image["name"] for image in kustomization.get("images") or []}
    for path, doc in load_objects():
        if doc["kind"] == "Deployment":
            for container in pod_spec(doc)["containers"]:
                assert container["image"].rsplit(":", 1)[0] in images, f"{path.name}: image not set by kustomization"


def test_kubectl_kustomize_renders_the_same_objects(objects):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed (the structural checks above still apply)")
    result = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in rendered) == sorted(
        (d["kind"], d["metadata"]["name"]) for d in objects
    )


# Objects the operator creates outside these manifests (from files that are not part of the repository);
# each must be explained in docs/operating.md.
EXTERNAL_OBJECTS = {("ConfigMap", "reference-data")}


def test_external_objects_are_documented():
    guide = (REPO / "docs" / "operating.md").read_text()
    for kind, name in EXTERNAL_OBJECTS:
        assert name in guide, f"{kind} {name} is created by the operator but docs/operating.md does not say how"


def test_every_reference_resolves(objects, index):
    for workload in objects:
        if workload["kind"] not in WORKLOADS:
            continue
        spec = pod_spec(workload)
        for container in spec.get("initContainers", []) + spec["containers"]:
            effective_env(container, index)  # asserts every ConfigMap / Secret / key it uses
            mounts = {m["name"] for m in container.get("volumeMounts") or []}
            declared = {v["name"] for v in spec.get("volumes") or []}
            claims = {c["metadata"]["name"] for c in workload["spec"].get("volumeClaimTemplates") or []}
            assert mounts <= declared | claims, f"{workload['metadata']['name']}: undeclared volume {mounts - declared - claims}"
        for volume in spec.get("volumes") or []:
            if "configMap" in volume and ("ConfigMap", volume["configMap"]["name"]) not in EXTERNAL_OBJECTS:
                get(index, "ConfigMap", volume["configMap"]["name"])
            if "secret" in volume:
                get(index, "Secret", volume["secret"]["secretName"])


def test_workload_selectors_match_their_pods(objects):
    for workload in objects:
        if workload["kind"] in WORKLOADS:
            assert selects(workload["spec"]["selector"], pod_labels(workload)), workload["metadata"]["name"]


def test_every_service_selects_pods_on_declared_ports(objects):
    for service in of_kind(objects, "Service"):
        name = service["metadata"]["name"]
        selected = workloads_selected(objects, service["spec"]["selector"])
        assert selected, f"Service {name} selects no pods"
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert any(
                _has_port(container, target) for w in selected for container in pod_spec(w)["containers"]
            ), f"Service {name}: no selected container exposes {target}"


def _has_port(container: dict, port: int | str) -> bool:
    try:
        container_port(container, port)
    except AssertionError:
        return False
    return True


def test_disruption_budgets_leave_room_for_a_drain(objects):
    budgets = of_kind(objects, "PodDisruptionBudget")
    for workload in objects:
        if workload["kind"] == "Deployment" or (workload["kind"], workload["metadata"]["name"]) == ("StatefulSet", "nats"):
            assert any(selects(b["spec"]["selector"], pod_labels(workload)) for b in budgets), (
                f"no PodDisruptionBudget for {workload['metadata']['name']}"
            )
    for budget in budgets:
        (workload,) = workloads_selected(objects, budget["spec"]["selector"])
        replicas = workload["spec"].get("replicas", 1)
        if "minAvailable" in budget["spec"]:
            assert 1 <= int(budget["spec"]["minAvailable"]) < replicas, budget["metadata"]["name"]
        else:
            assert int(budget["spec"]["maxUnavailable"]) >= 1, budget["metadata"]["name"]


def test_every_container_has_resources(objects):
    for workload in objects:
        if workload["kind"] not in WORKLOADS:
            continue
        for container in pod_spec(workload)["containers"]:
            resources = container.get("resources") or {}
            where = f"{workload['metadata']['name']}/{container['name']}"
            assert {"cpu", "memory"} <= set(resources.get("requests") or {}), where
            assert "memory" in (resources.get("limits") or {}), where
            assert ":" in container["image"] and not container["image"].endswith(":"), f"{where}: image without tag"


# --------------------------------------------------------------------------------------------------------------
# the four services
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_service_deployment_runs_its_module_on_its_port(index, name):
    deployment, container = service_deployment(index, name)
    port = SERVICES[name]
    command = container.get("command", []) + container.get("args", [])
    assert command[0] == "uvicorn", command
    assert flag_value(command, "--host") == "0.0.0.0", command
    assert flag_value(command, "--port") == str(port), command
    assert container_port(container, port) == port
    assert deployment["spec"]["replicas"] >= 2, "N replicas: 2 by default"
    security = {**pod_spec(deployment).get("securityContext", {}), **container.get("securityContext", {})}
    assert security.get("runAsNonRoot") is True and security.get("allowPrivilegeEscalation") is False


@pytest.mark.parametrize("name", SERVICES)
def test_service_probes_health_endpoints_on_its_port(index, name):
    _, container = service_deployment(index, name)
    port = SERVICES[name]
    probes = {kind: container.get(kind) for kind in ("readinessProbe", "livenessProbe", "startupProbe")}
    assert all(probes.values()), f"missing probes: {[k for k, v in probes.items() if not v]}"
    expected = {"readinessProbe": "/health/ready", "livenessProbe": "/health", "startupProbe": "/health"}
    for kind, path in expected.items():
        http = probes[kind]["httpGet"]
        assert http["path"] == path, (kind, http)
        assert container_port(container, http["port"]) == port, (kind, http)
    # Migrations run before the app answers: the start-up probe must wait minutes, not seconds.
    startup = probes["startupProbe"]
    assert startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3) >= 120, startup
    assert probes["livenessProbe"].get("failureThreshold", 3) >= 3


@pytest.mark.parametrize("name", SERVICES)
def test_service_is_exposed_by_a_service_selecting_its_pods(objects, index, name):
    deployment, container = service_deployment(index, name)
    service = get(index, "Service", k8s_name(name))
    assert selects(service["spec"]["selector"], pod_labels(deployment))
    assert workloads_selected(objects, service["spec"]["selector"]) == [deployment], "selector matches other pods"
    ports = [container_port(container, p.get("targetPort", p["port"])) for p in service["spec"]["ports"]]
    assert SERVICES[name] in ports
    assert any(p["port"] == SERVICES[name] for p in service["spec"]["ports"])


@pytest.mark.parametrize("name", SERVICES)
def test_service_database_url_points_to_its_own_postgres(objects, index, name):
    deployment, container = service_deployment(index, name)
    env = effective_env(container, index)
    variable = f"{name.upper()}_DATABASE_URL"
    assert variable in env, sorted(env)
    others = [f"{other.upper()}_DATABASE_URL" for other in SERVICES if other != name]
    assert not [v for v in others if v in env], "a service must not see another service's database"
    url = urlsplit(env[variable])
    assert url.scheme == "postgresql+asyncpg", env[variable]
    assert url.path == f"/{name}" and unquote(url.username or "") == name, env[variable]
    assert url.port in (None, 5432)

    # The host is a Service selecting exactly one PostgreSQL StatefulSet, whose init script gets the same role and
    # the same password from the same Secret key.
    db_service = get(index, "Service", url.hostname)
    (postgres,) = workloads_selected(objects, db_service["spec"]["selector"])
    assert postgres["kind"] == "StatefulSet" and postgres["spec"]["serviceName"] == url.hostname
    (pg,) = pod_spec(postgres)["containers"]
    assert pg["image"].split(":")[0] == "postgres"
    pg_env = effective_env(pg, index)
    assert pg_env["SERVICE_DB_USER"] == name
    assert pg_env["SERVICE_DB_PASSWORD"] == unquote(url.password or ""), "service and database disagree on the password"
    assert pg_env.get("POSTGRES_USER", "postgres") != name, "the service role must not be the instance superuser"
    assert re.fullmatch(r"[A-Za-z0-9._~-]+", url.password or ""), "database password must be URL-safe"


def test_each_service_has_its_own_postgres_instance(index):
    hosts = set()
    for name in SERVICES:
        _, container = service_deployment(index, name)
        hosts.add(urlsplit(effective_env(container, index)[f"{name.upper()}_DATABASE_URL"]).hostname)
    assert len(hosts) == len(SERVICES), hosts


@pytest.mark.parametrize("name", SERVICES)
def test_service_nats_url_lists_the_three_nats_nodes(index, name):
    _, container = service_deployment(index, name)
    env = effective_env(container, index)
    nats = get(index, "StatefulSet", "nats")
    replicas = nats["spec"]["replicas"]
    headless = nats["spec"]["serviceName"]
    urls = [urlsplit(u.strip()) for u in env["NATS_URL"].split(",")]
    assert all(u.scheme == "nats" and u.port == NATS_CLIENT_PORT for u in urls), env["NATS_URL"]
    assert {u.hostname for u in urls} == {f"nats-{i}.{headless}" for i in range(replicas)}, env["NATS_URL"]
    assert env["STREAM_REPLICAS"] == "3"
    assert 1 <= int(env["STREAM_REPLICAS"]) <= replicas


def test_services_share_tokens_and_log_as_json(index):
    seen = {}
    for name in SERVICES:
        _, container = service_deployment(index, name)
        env = effective_env(container, index)
        assert env.get("LOG_FORMAT") == "json", name
        for variable in ("FACILITATOR_TOKEN", "TOKEN_SECRET"):
            assert env.get(variable), f"{name}: {variable} not set"
            seen.setdefault(variable, set()).add(env[variable])
        # Secrets come from Secret objects, never from plain values in the manifests.
        for item in container.get("env") or []:
            if item["name"] in ("FACILITATOR_TOKEN", "TOKEN_SECRET") or item["name"].endswith("_PASSWORD"):
                assert "secretKeyRef" in item.get("valueFrom", {}), item["name"]
        configs = [get(index, "ConfigMap", s["configMapRef"]["name"]) for s in container.get("envFrom", [])
                   if "configMapRef" in s]
        for config in configs:
            assert not {"FACILITATOR_TOKEN", "TOKEN_SECRET"} & set(config["data"]), "tokens belong in a Secret"
    assert all(len(values) == 1 for values in seen.values()), "TOKEN_SECRET must be identical in every service"


@pytest.mark.parametrize("name", SERVICES)
def test_service_pods_are_annotated_for_prometheus(index, name):
    deployment, container = service_deployment(index, name)
    annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    assert annotations.get("prometheus.io/scrape") == "true"
    assert container_port(container, int(annotations["prometheus.io/port"])) == SERVICES[name]
    assert annotations.get("prometheus.io/path", "/metrics") == "/metrics"
    assert annotations.get("prometheus.io/job") == name, "job label = Python service name (dashboard, alerts)"


# --------------------------------------------------------------------------------------------------------------
# the portal
# --------------------------------------------------------------------------------------------------------------


def test_portal_runs_on_its_port_with_probes_and_replicas(objects, index):
    deployment, container = service_deployment(index, "portal")
    command = container.get("command", []) + container.get("args", [])
    assert command[0] == "uvicorn" and flag_value(command, "--port") == str(PORTAL_PORT), command
    assert deployment["spec"]["replicas"] >= 2
    expected = {"readinessProbe": "/health/ready", "livenessProbe": "/health", "startupProbe": "/health"}
    for kind, path in expected.items():
        http = container[kind]["httpGet"]
        assert http["path"] == path and container_port(container, http["port"]) == PORTAL_PORT, (kind, http)
    service = get(index, "Service", "portal")
    assert workloads_selected(objects, service["spec"]["selector"]) == [deployment]
    assert any(p["port"] == PORTAL_PORT for p in service["spec"]["ports"])
    # an upload in progress is held by the replica that received it: its progress page must reach the same pod
    assert service["spec"].get("sessionAffinity") == "ClientIP"
    assert service["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"] >= 600
    annotations = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    assert annotations.get("prometheus.io/job") == "portal"
    assert int(annotations["prometheus.io/port"]) == PORTAL_PORT


def test_portal_calls_each_service_through_its_cluster_service(objects, index):
    _, container = service_deployment(index, "portal")
    env = effective_env(container, index)
    assert not [v for v in env if v.endswith("_DATABASE_URL")], "the portal owns no data"
    for name, port in SERVICES.items():
        url = urlsplit(env[f"PORTAL_{name.upper()}_URL"])
        service = get(index, "Service", url.hostname)
        assert url.port == port and any(p["port"] == port for p in service["spec"]["ports"]), url.geturl()
        target, _ = service_deployment(index, name)
        assert workloads_selected(objects, service["spec"]["selector"]) == [target], url.geturl()
    # The user's tokens are checked with the platform's secret; the session cookie is signed with its own.
    tokens = effective_env(service_deployment(index, "hours")[1], index)
    assert env["TOKEN_SECRET"] == tokens["TOKEN_SECRET"]
    assert env["PORTAL_SESSION_SECRET"] and env["PORTAL_SESSION_SECRET"] != env["TOKEN_SECRET"]
    session = next(item for item in container["env"] if item["name"] == "PORTAL_SESSION_SECRET")
    assert "secretKeyRef" in session["valueFrom"]
    assert env.get("PORTAL_COOKIE_SECURE", "true").lower() != "false", "cookies stay Secure behind TLS"


def test_hours_and_reporting_autoscale(objects, index):
    autoscalers = {h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(objects, "HorizontalPodAutoscaler")}
    for name in AUTOSCALED:
        hpa = autoscalers.get(k8s_name(name))
        assert hpa, f"no HorizontalPodAutoscaler for {name}"
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
        get(index, "Deployment", target["name"])
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        metrics = hpa["spec"]["metrics"]
        assert metrics and all(m["type"] == "Resource" for m in metrics)
        for metric in metrics:
            # Utilization is a share of the requests: a container without a CPU request cannot be autoscaled.
            _, container = service_deployment(index, name)
            assert metric["resource"]["name"] in container["resources"]["requests"]
    for target in autoscalers:
        get(index, "Deployment", target)


# --------------------------------------------------------------------------------------------------------------
# NATS JetStream cluster
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nats(index) -> tuple[dict, dict, list[str]]:
    statefulset = get(index, "StatefulSet", "nats")
    (server,) = [c for c in pod_spec(statefulset)["containers"] if c["image"].split(":")[0] in ("nats", "library/nats")]
    args = [str(a) for a in server.get("command", [])[1:] + server.get("args", [])]
    return statefulset, server, args


def test_nats_is_a_three_node_jetstream_cluster_on_volumes(nats, index):
    statefulset, server, args = nats
    assert statefulset["spec"]["replicas"] == 3
    assert statefulset["spec"].get("podManagementPolicy") == "Parallel", "OrderedReady deadlocks: readiness needs quorum"
    assert "-js" in args or "--jetstream" in args, args
    store = flag_value(args, "-sd", "--store_dir")
    assert store, "no JetStream store directory"
    claims = {c["metadata"]["name"]: c for c in statefulset["spec"]["volumeClaimTemplates"]}
    mounted = {m["mountPath"]: m["name"] for m in server["volumeMounts"]}
    assert mounted.get(store) in claims, f"JetStream store {store} is not on a PersistentVolumeClaim"
    assert claims[mounted[store]]["spec"]["resources"]["requests"]["storage"]

    # Server name = pod name (stable across restarts), from the downward API.
    name = flag_value(args, "-n", "--name", "--server_name")
    assert name == "$(POD_NAME)", name
    pod_name = [e for e in server["env"] if e["name"] == "POD_NAME"]
    assert pod_name and pod_name[0]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_nats_cluster_routes_name_every_pod(nats, index):
    statefulset, server, args = nats
    headless_name = statefulset["spec"]["serviceName"]
    headless = get(index, "Service", headless_name)
    assert headless["spec"].get("clusterIP") == "None"
    assert headless["spec"].get("publishNotReadyAddresses") is True, "routes must resolve before the nodes are ready"
    assert selects(headless["spec"]["selector"], pod_labels(statefulset))
    assert flag_value(args, "--cluster_name")
    cluster = urlsplit(flag_value(args, "--cluster"))
    assert cluster.port == NATS_CLUSTER_PORT
    routes = [urlsplit(r) for r in flag_value(args, "--routes", "-routes").split(",")]
    expected = {f"{statefulset['metadata']['name']}-{i}.{headless_name}" for i in range(statefulset["spec"]["replicas"])}
    assert {r.hostname for r in routes} == expected
    assert all(r.port == NATS_CLUSTER_PORT for r in routes)
    assert container_port(server, NATS_CLUSTER_PORT) and container_port(server, NATS_CLIENT_PORT)


def test_nats_monitoring_probes_and_exporter(nats):
    statefulset, server, args = nats
    assert flag_value(args, "-m", "--http_port") == str(NATS_MONITOR_PORT)
    assert container_port(server, NATS_MONITOR_PORT)
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        http = server[kind]["httpGet"]
        assert http["path"].startswith("/healthz") and container_port(server, http["port"]) == NATS_MONITOR_PORT

    (exporter,) = [c for c in pod_spec(statefulset)["containers"] if "prometheus-nats-exporter" in c["image"]]
    exporter_args = [str(a) for a in exporter.get("args", [])]
    assert "-jsz=all" in exporter_args, "-jsz=all gives jetstream_consumer_num_pending (consumer lag)"
    assert urlsplit(exporter_args[-1]).port == NATS_MONITOR_PORT, "the exporter must read this node's monitoring port"
    port = int(flag_value(exporter_args, "-port", "-p") or 7777)
    annotations = statefulset["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == container_port(exporter, port)
    assert annotations.get("prometheus.io/job") == "nats"


# --------------------------------------------------------------------------------------------------------------
# PostgreSQL per service
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_postgres_instance_keeps_its_data_and_runs_the_init_script(objects, index, name):
    _, container = service_deployment(index, name)
    host = urlsplit(effective_env(container, index)[f"{name.upper()}_DATABASE_URL"]).hostname
    (postgres,) = workloads_selected(objects, get(index, "Service", host)["spec"]["selector"])
    assert postgres["spec"].get("replicas", 1) == 1
    (pg,) = pod_spec(postgres)["containers"]
    env = effective_env(pg, index)
    mounts = {m["mountPath"]: m["name"] for m in pg["volumeMounts"]}
    claims = {c["metadata"]["name"] for c in postgres["spec"]["volumeClaimTemplates"]}
    data_dir = env.get("PGDATA", "/var/lib/postgresql/data")
    assert any(data_dir.startswith(path) and volume in claims for path, volume in mounts.items()), mounts
    init_volume = mounts.get("/docker-entrypoint-initdb.d")
    assert init_volume, "the init script is not mounted"
    (volume,) = [v for v in pod_spec(postgres)["volumes"] if v["name"] == init_volume]
    scripts = get(index, "ConfigMap", volume["configMap"]["name"])["data"]
    assert any(key.endswith((".sh", ".sql")) for key in scripts)
    for kind in ("readinessProbe", "livenessProbe"):
        assert pg[kind]["exec"]["command"][0] == "pg_isready"


@pytest.mark.parametrize("name", SERVICES)
def test_only_the_service_may_reach_its_database(objects, index, name):
    _, container = service_deployment(index, name)
    host = urlsplit(effective_env(container, index)[f"{name.upper()}_DATABASE_URL"]).hostname
    (postgres,) = workloads_selected(objects, get(index, "Service", host)["spec"]["selector"])
    policies = [p for p in of_kind(objects, "NetworkPolicy") if selects(p["spec"]["podSelector"], pod_labels(postgres))]
    assert len(policies) == 1, f"{host}: expected one NetworkPolicy"
    (rule,) = policies[0]["spec"]["ingress"]
    allowed = [workloads_selected(objects, peer["podSelector"]) for peer in rule["from"]]
    assert allowed == [[get(index, "Deployment", k8s_name(name))]], "only the owning service may connect"
    assert [p["port"] for p in rule["ports"]] == [5432]


def _init_script(index) -> str:
    (script,) = [v for k, v in get(index, "ConfigMap", "postgres-init")["data"].items() if k.endswith(".sh")]
    return script


def _admin_dsn() -> str:
    url = os.environ.get("TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


@pytest.mark.postgres
def test_postgres_init_script_creates_an_isolated_role_on_a_real_postgres(index, tmp_path):
    """Run the instances' init script twice (two services sharing one server, under throwaway names): each role is a
    plain login role owning its database, and cannot connect to the other one's."""
    psycopg = pytest.importorskip("psycopg")
    if shutil.which("psql") is None or shutil.which("sh") is None:
        pytest.skip("psql client not installed")
    dsn = _admin_dsn()
    try:
        admin = psycopg.connect(dsn, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        pytest.skip(f"no PostgreSQL reachable at {dsn} (set TEST_POSTGRES_URL): {error}")
    script = tmp_path / "10-service-role.sh"
    script.write_text(_init_script(index), encoding="utf-8")
    suffix = uuid.uuid4().hex[:8]
    roles = {f"k8s_a_{suffix}": "pw-a'quote\"", f"k8s_b_{suffix}": "pw-b"}
    server = admin.info
    with admin:
        privileges = admin.execute(
            "SELECT rolsuper OR (rolcreaterole AND rolcreatedb) FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        if not privileges or not privileges[0]:
            pytest.skip("the PostgreSQL account cannot create roles and databases")
        try:
            for role, password in roles.items():
                env = {
                    **os.environ, "PGHOST": server.host, "PGPORT": str(server.port),
                    "POSTGRES_USER": server.user, "SERVICE_DB_USER": role, "SERVICE_DB_PASSWORD": password,
                }
                if server.password:
                    env["PGPASSWORD"] = server.password
                result = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)
                assert result.returncode == 0, result.stderr
            for role, password in roles.items():
                row = admin.execute(
                    "SELECT r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole, pg_get_userbyid(d.datdba) "
                    "FROM pg_roles r JOIN pg_database d ON d.datname = r.rolname WHERE r.rolname = %s",
                    (role,),
                ).fetchone()
                assert row == (True, False, False, False, role), row
                with psycopg.connect(host=server.host, port=server.port, dbname=role, user=role, password=password,
                                     connect_timeout=3, autocommit=True) as own:
                    own.execute("CREATE TABLE probe (id integer PRIMARY KEY)")
                other = next(r for r in roles if r != role)
                with pytest.raises(psycopg.OperationalError, match="permission denied"):
                    psycopg.connect(host=server.host, port=server.port, dbname=other, user=role, password=password,
                                    connect_timeout=3).close()
        finally:
            for role in roles:
                admin.execute(f'DROP DATABASE IF EXISTS "{role}" WITH (FORCE)')
                admin.execute(f'DROP ROLE IF EXISTS "{role}"')


# --------------------------------------------------------------------------------------------------------------
# Prometheus (Kubernetes discovery), alerts, dashboard, operating guide
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus_k8s() -> dict:
    config = yaml.safe_load(PROMETHEUS_K8S.read_text(encoding="utf-8"))
    assert isinstance(config, dict)
    return config


@pytest.fixture(scope="module")
def alert_rules(prometheus_k8s) -> list[dict]:
    rules = []
    for name in prometheus_k8s.get("rule_files") or []:
        path = PROMETHEUS_K8S.parent / name
        assert path.is_file(), f"rule file {name} not found next to prometheus-k8s.yml"
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            assert group["name"] and group["rules"]
            rules.extend(group["rules"])
    assert rules, "no alerting rules"
    return rules


def _relabel(config: dict, meta: dict[str, str]) -> dict[str, str] | None:
    """A small interpreter of Prometheus relabel_configs (keep / drop / replace), enough to check where a pod with
    the given discovery labels would be scraped and under which job. None when the target is dropped."""
    labels = dict(meta)
    for rule in config:
        action = rule.get("action", "replace")
        value = rule.get("separator", ";").join(labels.get(s, "") for s in rule.get("source_labels", []))
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if action == "keep" and not match:
            return None
        if action == "drop" and match:
            return None
        if action == "replace" and match:
            replacement = re.sub(r"\$(\d+)", r"\\\1", rule.get("replacement", "$1"))
            labels[rule["target_label"]] = match.expand(replacement)
        assert action in ("keep", "drop", "replace"), f"unsupported action {action} in this check"
    return labels


def test_prometheus_discovers_the_annotated_pods(prometheus_k8s, objects):
    assert prometheus_k8s["global"]["scrape_interval"]
    (job,) = [j for j in prometheus_k8s["scrape_configs"] if j.get("kubernetes_sd_configs")]
    (sd,) = job["kubernetes_sd_configs"]
    assert sd["role"] == "pod" and sd["namespaces"]["names"] == [NAMESPACE]

    expected = {name: port for name, port in SERVICES.items()} | {"portal": PORTAL_PORT, "nats": 7777}
    found: dict[str, set[str]] = {}
    for workload in objects:
        if workload["kind"] not in WORKLOADS:
            continue
        template = workload["spec"]["template"]["metadata"]
        for container in pod_spec(workload)["containers"]:
            for port in container.get("ports") or [{"containerPort": None}]:
                meta = {
                    "__address__": f"10.0.0.1:{port['containerPort']}" if port["containerPort"] else "10.0.0.1",
                    "__meta_kubernetes_pod_ip": "10.0.0.1",
                    "__meta_kubernetes_pod_phase": "Running",
                    "__meta_kubernetes_pod_container_init": "false",
                    "__meta_kubernetes_pod_name": workload["metadata"]["name"] + "-0",
                    "__meta_kubernetes_namespace": NAMESPACE,
                    "__metrics_path__": job.get("metrics_path", "/metrics"),
                }
                for key, value in (template.get("labels") or {}).items():
                    meta["__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)] = value
                for key, value in (template.get("annotations") or {}).items():
                    meta["__meta_kubernetes_pod_annotation_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)] = value
                target = _relabel(job["relabel_configs"], meta)
                if target is not None:
                    found.setdefault(target["job"], set()).add(f"{target['__address__']}{target['__metrics_path__']}")
    assert set(found) == set(expected), found
    for job_name, port in expected.items():
        assert found[job_name] == {f"10.0.0.1:{port}/metrics"}, (job_name, found[job_name])


def test_alert_rules_are_well_formed(alert_rules):
    names = [rule["alert"] for rule in alert_rules]
    assert len(names) == len(set(names))
    for rule in alert_rules:
        expr = rule["expr"]
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        metrics = metric_names(expr)
        assert metrics, f"{rule['alert']}: no metric found in {expr!r}"
        assert not unknown_metrics(metrics), f"{rule['alert']}: unknown metrics {unknown_metrics(metrics)}"
    text = "\n".join(rule["expr"] for rule in alert_rules)
    for metric in ("outbox_oldest_age_seconds", "dead_letters_pending", "jetstream_consumer_num_pending",
                   "http_request_duration_seconds_bucket", "http_request_duration_seconds_count"):
        assert metric in text, f"no alert on {metric}"


def _dashboard_exprs() -> list[str]:
    exprs = []
    files = sorted(GRAFANA_DASHBOARDS_DIR.glob("*.json"))
    assert files
    for path in files:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for panel in dashboard["panels"]:
            for inner in [panel, *panel.get("panels", [])]:
                exprs.extend(target["expr"] for target in inner.get("targets", []))
    return exprs


def test_dashboard_graphs_throughput_lag_backlog_dead_letters_and_latency():
    exprs = _dashboard_exprs()
    text = "\n".join(exprs)
    for metric in ("events_consumed_total", "outbox_published_total", "jetstream_consumer_num_pending",
                   "outbox_backlog", "outbox_oldest_age_seconds", "dead_letters_total", "dead_letters_pending",
                   "faststream_received_messages_total", "faststream_published_messages_total"):
        assert re.search(rf"\b{metric}\b", text), f"no panel uses {metric}"
    for quantile in ("0.5", "0.99"):
        assert any(
            re.search(rf"histogram_quantile\(\s*{re.escape(quantile)}\s*,", e)
            and "http_request_duration_seconds_bucket" in e
            and re.search(r"by \((?=[^)]*\bjob\b)(?=[^)]*\broute\b)(?=[^)]*\ble\b)[^)]*\)", e)
            for e in exprs
        ), f"no p{quantile} latency per service and route"
    assert any(re.search(r'status=~"5\.\."', e) and "/" in e for e in exprs), "no HTTP error ratio"
    # Throughput per service: rates grouped by job.
    for metric in ("events_consumed_total", "outbox_published_total"):
        assert any(re.search(rf"sum by \(job\) \(rate\({metric}", e) for e in exprs), metric
    # Consumer lag counted once per consumer (each of the 3 nodes reports its replica).
    assert any("jetstream_consumer_num_pending" in e and "consumer_name" in e for e in exprs)
    unknown = unknown_metrics(metric_names(text))
    assert not unknown, f"the dashboard uses metrics nobody exports: {unknown}"


def test_dashboard_thresholds_match_the_alerts(alert_rules):
    thresholds = {}
    for rule in alert_rules:
        found = re.search(r">\s*([0-9.]+)\s*$", rule["expr"].strip())
        if found:
            thresholds[rule["alert"]] = float(found.group(1))
    dashboard = json.loads((GRAFANA_DASHBOARDS_DIR / "clauses-sociales.json").read_text(encoding="utf-8"))
    by_metric = {}
    for panel in dashboard["panels"]:
        steps = ((panel.get("fieldConfig") or {}).get("defaults", {}).get("thresholds") or {}).get("steps") or []
        red = [s["value"] for s in steps if s["color"] == "red" and s["value"] is not None]
        for target in panel.get("targets", []):
            for metric in ("outbox_oldest_age_seconds", "jetstream_consumer_num_pending", "dead_letters_pending"):
                if metric in target["expr"] and red:
                    by_metric.setdefault(metric, set()).update(red)
    assert thresholds["OutboxStalled"] in by_metric["outbox_oldest_age_seconds"]
    assert thresholds["ConsumerLagHigh"] in by_metric["jetstream_consumer_num_pending"]
    assert min(by_metric["dead_letters_pending"]) <= thresholds["DeadLettersPending"] + 1


def test_operating_guide_covers_the_runbook(alert_rules):
    assert OPERATING.is_file(), "docs/operating.md is missing"
    guide = OPERATING.read_text(encoding="utf-8")
    for heading in ("Scaling out", "Replaying", "Recovering from a dead letter", "Rotating tokens", "Backups", "Alerts"):
        assert re.search(rf"^#+ .*{heading}", guide, re.MULTILINE | re.IGNORECASE), f"no section {heading!r}"
    for rule in alert_rules:
        assert rule["alert"] in guide, f"alert {rule['alert']} is not explained in docs/operating.md"
    for term in ("dead_letters", "resolved_at", "Nats-Msg-Id", "/admin/rebuild", "TOKEN_SECRET", "FACILITATOR_TOKEN",
                 "SKIP LOCKED", "SQLite"):
        assert term in guide, f"docs/operating.md does not mention {term}"
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    assert "../docs/operating.md" in readme, "deploy/README.md must link the operating guide"
    assert "k8s/" in readme


def _connections_per_replica() -> int:
    """pool_size + max_overflow of the services' PostgreSQL engine (shared/db.py), 20 if it cannot be read."""
    source = (REPO / "shared" / "db.py").read_text(encoding="utf-8") if (REPO / "shared" / "db.py").exists() else ""
    found = re.search(r"pool_size=(\d+),\s*max_overflow=(\d+)", source)
    return int(found.group(1)) + int(found.group(2)) if found else 20


@pytest.mark.parametrize("name", SERVICES)
def test_postgres_accepts_the_connections_of_every_replica(objects, index, name):
    deployment, container = service_deployment(index, name)
    autoscalers = [h for h in of_kind(objects, "HorizontalPodAutoscaler")
                   if h["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]]
    most = max([deployment["spec"]["replicas"], *[h["spec"]["maxReplicas"] for h in autoscalers]])
    host = urlsplit(effective_env(container, index)[f"{name.upper()}_DATABASE_URL"]).hostname
    (postgres,) = workloads_selected(objects, get(index, "Service", host)["spec"]["selector"])
    (pg,) = pod_spec(postgres)["containers"]
    args = [str(a) for a in pg.get("command", [])[1:] + pg.get("args", [])]
    settings = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "-c" and i + 1 < len(args))
    max_connections = int(settings.get("max_connections", 100))
    # One extra replica during a rolling update (maxSurge), plus the superuser's reserved slots and maintenance.
    assert (most + 1) * _connections_per_replica() + 10 <= max_connections, (name, most, max_connections)
