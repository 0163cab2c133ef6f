"""The Kubernetes manifests (deploy/k8s) against the code, as each overlay renders them.

Every overlay is built with the pinned kustomize and validated offline, strictly, against the
Kubernetes schemas and the operators' own CRDs (`bogfoer_deploy.validate`). Then what
docs/operations.md promises is checked on the rendered objects: locked-down pods, probes,
every required setting provided and secrets only from Secrets, TLS to Kafka and PostgreSQL
with the operators' CAs, a user and a role per service, a PDB per service, versioned images,
an Ingress for ingest with TLS and ingest's own body limit, NetworkPolicies for every service.
"""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from bogfoer_cli.settings import ReconcileSettings
from bogfoer_deploy import validate
from bogfoer_ingest.settings import IngestSettings
from bogfoer_ledger.settings import LedgerSettings
from bogfoer_mapper.settings import MapperSettings
from bogfoer_portal.settings import PortalSettings
from bogfoer_poster.settings import PosterSettings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS: dict[str, type[BaseSettings]] = {
    "ingest": IngestSettings,
    "mapper": MapperSettings,
    "poster": PosterSettings,
    "ledger": LedgerSettings,
    "portal": PortalSettings,
}
# Jobs (CronJobs), not services: no Deployment, no probes.
JOBS: dict[str, type[BaseSettings]] = {"reconcile": ReconcileSettings}
# The portal speaks only HTTP (to the poster's and ingest's admin APIs) and PostgreSQL.
KAFKA_SERVICES = tuple(name for name in SETTINGS if name != "portal")
UID = 10001
# Read by Python, the OpenTelemetry SDK or asyncpg (libpq's PG* variables), not by our
# settings classes.
FOREIGN_ENV_PREFIXES = ("PYTHON", "OTEL_", "PG")

Doc = dict[str, Any]


@pytest.fixture(scope="module", params=validate.OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Doc]]:
    name: str = request.param
    return name, validate.build(name)


@pytest.fixture(scope="module")
def prod() -> list[Doc]:
    return validate.build("prod")


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def kinds(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def container(deployment: Doc) -> Doc:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: Doc = containers[0]
    return result


def env_name(settings: type[BaseSettings], field: str) -> str:
    info = settings.model_fields[field]
    if isinstance(info.validation_alias, str):
        return info.validation_alias
    return f"{settings.model_config.get('env_prefix', '')}{field}".upper()


def required_env(settings: type[BaseSettings]) -> set[str]:
    return {
        env_name(settings, f) for f, info in settings.model_fields.items() if info.is_required()
    }


def known_env(settings: type[BaseSettings]) -> set[str]:
    return {env_name(settings, f) for f in settings.model_fields}


def provided_env(docs: list[Doc], deployment: Doc) -> dict[str, Doc]:
    """Every variable the container gets: env entries by name, and the ConfigMaps' keys."""
    spec = container(deployment)
    provided: dict[str, Doc] = {}
    for source in spec.get("envFrom", []):
        data = find(docs, "ConfigMap", source["configMapRef"]["name"])["data"]
        provided |= {key: {"name": key, "value": value} for key, value in data.items()}
    provided |= {entry["name"]: entry for entry in spec.get("env", [])}
    return provided


def project_version() -> str:
    version: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return version


# --- offline validation ---------------------------------------------------------------


def test_every_object_of_every_overlay_is_valid(overlay: tuple[str, list[Doc]]) -> None:
    name, docs = overlay
    findings = [validate.check(doc) for doc in docs]
    invalid = [f for f in findings if not f.ok]
    assert not invalid, f"{name}: {invalid}"
    checked = {f.checked_against for f in findings}
    assert "strimzi 0.51.0 CRD" in checked
    assert "cloudnative-pg 1.28.0 CRD" in checked
    if name == "prod":
        assert "keda 2.21.0 CRD" in checked


def test_the_validation_refuses_what_a_cluster_would(prod: list[Doc]) -> None:
    """The checks have teeth: a misspelt field, a wrong enum or type, an unknown kind."""
    topic = copy.deepcopy(kinds(prod, "KafkaTopic")[0])
    topic["spec"]["replica"] = 3
    kafka = copy.deepcopy(kinds(prod, "Kafka")[0])
    kafka["spec"]["kafka"]["listeners"][0]["authentication"]["type"] = "scram"
    scaled = copy.deepcopy(kinds(prod, "ScaledObject")[0])
    scaled["spec"]["minReplicas"] = 1
    cluster = copy.deepcopy(kinds(prod, "Cluster")[0])
    cluster["spec"]["instances"] = "three"
    deployment = copy.deepcopy(kinds(prod, "Deployment")[0])
    container(deployment)["imagePullPolicyy"] = "Always"
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    for broken in (topic, kafka, scaled, cluster, deployment, unknown):
        assert not validate.check(broken).ok, broken["kind"]


# --- the pods -------------------------------------------------------------------------


@pytest.mark.parametrize("name", SETTINGS)
def test_deployment_is_locked_down(overlay: tuple[str, list[Doc]], name: str) -> None:
    _, docs = overlay
    deployment = find(docs, "Deployment", f"bogfoer-{name}")
    pod = deployment["spec"]["template"]["spec"]
    spec = container(deployment)
    assert pod["serviceAccountName"] == f"bogfoer-{name}"
    assert find(docs, "ServiceAccount", f"bogfoer-{name}")["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == UID
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    sc = spec["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == UID
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert "add" not in sc["capabilities"]
    # A read-only root needs a writable /tmp.
    tmp = next(m for m in spec["volumeMounts"] if m["mountPath"] == "/tmp")  # noqa: S108
    volume = next(v for v in pod["volumes"] if v["name"] == tmp["name"])
    assert "emptyDir" in volume
    assert spec["command"] == ["python", "-m", f"bogfoer_{name}"]


def test_images_are_the_released_version_never_latest(overlay: tuple[str, list[Doc]]) -> None:
    _, docs = overlay
    for deployment in kinds(docs, "Deployment"):
        image = container(deployment)["image"]
        assert re.fullmatch(r"[\w./-]+(:[\w.-]+|@sha256:[0-9a-f]{64})", image), image
        assert not image.endswith(":latest"), image
        assert image.endswith(f":{project_version()}") or "@sha256:" in image, image


@pytest.mark.parametrize("name", SETTINGS)
def test_probes_resources_and_ports_match_the_settings(
    overlay: tuple[str, list[Doc]], name: str
) -> None:
    _, docs = overlay
    settings = SETTINGS[name]
    port = settings.model_fields["http_port"].default
    graceful = settings.model_fields["graceful_timeout_seconds"].default
    deployment = find(docs, "Deployment", f"bogfoer-{name}")
    spec = container(deployment)
    env = provided_env(docs, deployment)
    assert spec["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert env[env_name(settings, "http_port")]["value"] == str(port)
    assert env[env_name(settings, "http_host")]["value"] == "0.0.0.0"  # noqa: S104
    for probe, path in (("livenessProbe", "/health/live"), ("readinessProbe", "/health/ready")):
        assert spec[probe]["httpGet"] == {"path": path, "port": "http"}
    for kind in ("requests", "limits"):
        assert set(spec["resources"][kind]) == {"cpu", "memory"}
    timeout = float(env[env_name(settings, "graceful_timeout_seconds")]["value"])
    assert timeout == graceful
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > timeout
    service = find(docs, "Service", f"bogfoer-{name}")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["port"] == port


@pytest.mark.parametrize("name", SETTINGS)
def test_every_required_setting_is_provided(overlay: tuple[str, list[Doc]], name: str) -> None:
    _, docs = overlay
    env = provided_env(docs, find(docs, "Deployment", f"bogfoer-{name}"))
    missing = required_env(SETTINGS[name]) - set(env)
    assert not missing, f"{name} requires {sorted(missing)}"


@pytest.mark.parametrize("name", SETTINGS)
def test_secrets_come_from_secrets(overlay: tuple[str, list[Doc]], name: str) -> None:
    _, docs = overlay
    settings = SETTINGS[name]
    env = provided_env(docs, find(docs, "Deployment", f"bogfoer-{name}"))
    secret_fields = {
        env_name(settings, f)
        for f, info in settings.model_fields.items()
        if "SecretStr" in str(info.annotation)
    } | {"PGPASSWORD"}
    assert "PGPASSWORD" in env
    if name in KAFKA_SERVICES:
        assert env_name(settings, "kafka_password") in env
    for var in secret_fields & set(env):
        assert "secretKeyRef" in env[var].get("valueFrom", {}), f"{var} must come from a Secret"
    # The database URL carries no credentials (they are PGUSER / PGPASSWORD).
    url = env["DATABASE_URL"]["value"]
    assert "@" not in url, url


@pytest.mark.parametrize("name", KAFKA_SERVICES)
def test_tls_and_own_credentials_to_kafka_and_postgres(
    overlay: tuple[str, list[Doc]], name: str
) -> None:
    _, docs = overlay
    settings = SETTINGS[name]
    deployment = find(docs, "Deployment", f"bogfoer-{name}")
    env = provided_env(docs, deployment)
    assert env["KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
    assert env["KAFKA_SASL_MECHANISM"]["value"] == "SCRAM-SHA-512"
    assert env["KAFKA_BOOTSTRAP_SERVERS"]["value"] == "bogfoer-kafka-kafka-bootstrap:9093"
    assert env[env_name(settings, "kafka_topics")]["value"] == "verify"
    # Its own Kafka user: the KafkaUser of its name, whose Secret Strimzi writes.
    assert env[env_name(settings, "kafka_username")]["value"] == f"bogfoer-{name}"
    password = env[env_name(settings, "kafka_password")]["valueFrom"]["secretKeyRef"]
    assert password == {"name": f"bogfoer-{name}", "key": "password"}
    find(docs, "KafkaUser", f"bogfoer-{name}")
    # Its own PostgreSQL role, a CloudNativePG managed role with that Secret.
    role_secret = env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"]
    roles = find(docs, "Cluster", "bogfoer-db")["spec"]["managed"]["roles"]
    assert role_secret in {r["passwordSecret"]["name"] for r in roles}
    # The CAs are mounted where the settings look for them.
    pod = deployment["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in container(deployment)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for variable, secret in (
        ("KAFKA_CA_FILE", "bogfoer-kafka-cluster-ca-cert"),
        ("DATABASE_CA_FILE", "bogfoer-db-ca"),
    ):
        path = Path(env[variable]["value"])
        volume = volumes[mounts[str(path.parent)]]
        assert volume["secret"]["secretName"] == secret
        assert volume["secret"]["items"] == [{"key": "ca.crt", "path": path.name}]


def test_each_service_owns_its_schema_through_its_role(overlay: tuple[str, list[Doc]]) -> None:
    _, docs = overlay
    roles = {r["name"]: r for r in find(docs, "Cluster", "bogfoer-db")["spec"]["managed"]["roles"]}
    schemas = {s["name"]: s["owner"] for s in kinds(docs, "Database")[0]["spec"]["schemas"]}
    for name, settings in SETTINGS.items():
        schema = settings.model_fields["db_schema"].default
        assert schemas[schema] == f"bogfoer_{name}"
        assert roles[f"bogfoer_{name}"]["login"] is True
        assert roles[f"bogfoer_{name}"]["passwordSecret"]["name"] == f"bogfoer-db-{name}"
    # Only TLS connections are let in.
    hba = find(docs, "Cluster", "bogfoer-db")["spec"]["postgresql"]["pg_hba"]
    assert "hostnossl all all 0.0.0.0/0 reject" in hba


@pytest.mark.parametrize("name", SETTINGS)
def test_no_unknown_bogfoer_variables(overlay: tuple[str, list[Doc]], name: str) -> None:
    """A misspelt variable would be ignored by the service (extra="ignore"): refuse it here."""
    _, docs = overlay
    settings = SETTINGS[name]
    env = provided_env(docs, find(docs, "Deployment", f"bogfoer-{name}"))
    prefix = str(settings.model_config.get("env_prefix"))
    ours = {v for v in env if v.startswith(prefix)}
    assert ours <= known_env(settings), sorted(ours - known_env(settings))


def test_config_map_keys_belong_to_a_service(overlay: tuple[str, list[Doc]]) -> None:
    _, docs = overlay
    known = set().union(*(known_env(s) for s in (*SETTINGS.values(), *JOBS.values())))
    for key in find(docs, "ConfigMap", "bogfoer-config")["data"]:
        assert key in known or key.startswith(FOREIGN_ENV_PREFIXES), key


def test_every_service_has_a_disruption_budget(overlay: tuple[str, list[Doc]]) -> None:
    _, docs = overlay
    for name in SETTINGS:
        pdb = find(docs, "PodDisruptionBudget", f"bogfoer-{name}")
        deployment = find(docs, "Deployment", f"bogfoer-{name}")
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert pdb["spec"]["selector"]["matchLabels"] == selector
        # One at a time, and never a budget that blocks every drain of a single replica.
        assert pdb["spec"] == {"maxUnavailable": 1, "selector": pdb["spec"]["selector"]}


# --- production: the front door, the network, the replicas -----------------------------


def test_ingest_ingress_is_tls_with_ingests_body_limit(prod: list[Doc]) -> None:
    ingress = find(prod, "Ingress", "bogfoer-ingest")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"]
    assert annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"
    size = annotations["nginx.ingress.kubernetes.io/proxy-body-size"]
    units = {"k": 1024, "m": 1024**2}
    assert int(size[:-1]) * units[size[-1]] == IngestSettings.model_fields["max_body_bytes"].default
    (rule,) = ingress["spec"]["rules"]
    (tls,) = ingress["spec"]["tls"]
    assert tls["hosts"] == [rule["host"]]
    # Only the tenant routes (events, Stripe webhooks): not the admin API, health or metrics.
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/v1/tenants/"
    assert path["backend"]["service"]["name"] == "bogfoer-ingest"


def test_the_portal_is_reached_over_tls_and_reaches_only_the_admin_apis(
    overlay: tuple[str, list[Doc]], prod: list[Doc]
) -> None:
    _, docs = overlay
    env = provided_env(docs, find(docs, "Deployment", "bogfoer-portal"))
    assert env["BOGFOER_PORTAL_POSTER_URL"]["value"] == "http://bogfoer-poster:8003"
    assert env["BOGFOER_PORTAL_INGEST_URL"]["value"] == "http://bogfoer-ingest:8001"
    assert env["BOGFOER_PORTAL_PUBLIC_URL"]["value"].startswith("https://")
    ingress = find(prod, "Ingress", "bogfoer-portal")
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/force-ssl-redirect"]
    (rule,) = ingress["spec"]["rules"]
    assert ingress["spec"]["tls"][0]["hosts"] == [rule["host"]]
    assert env["BOGFOER_PORTAL_PUBLIC_URL"]["value"] == f"https://{rule['host']}"
    # The owner's pages and the platform API; not health or metrics.
    assert {p["path"] for p in rule["http"]["paths"]} == {"/portal", "/v1/onboardings"}
    policies = {p["metadata"]["name"]: p["spec"] for p in kinds(prod, "NetworkPolicy")}
    for target in ("bogfoer-poster", "bogfoer-ingest"):
        peers = [peer for rule in policies[target]["ingress"] for peer in rule["from"]]
        assert {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "bogfoer-portal"}}
        } in peers
    called = {
        peer["podSelector"]["matchLabels"].get("app.kubernetes.io/name")
        for rule in policies["bogfoer-portal"]["egress"]
        for peer in rule["to"]
        if "podSelector" in peer
    }
    assert {"bogfoer-poster", "bogfoer-ingest"} <= called


def test_network_policies_cover_every_service_and_the_database(prod: list[Doc]) -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in kinds(prod, "NetworkPolicy")}
    assert policies["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    for name in SETTINGS:
        spec = policies[f"bogfoer-{name}"]
        assert spec["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": f"bogfoer-{name}"}
        assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
        ports = {p["port"] for rule in spec["egress"] for p in rule.get("ports", [])}
        assert {53, 5432} <= ports
        assert (9093 in ports) == (name in KAFKA_SERVICES), name
        # Only ingest (Stripe) and the poster (Dinero) reach the internet.
        internet = any("ipBlock" in peer for rule in spec["egress"] for peer in rule["to"])
        assert internet == (name in {"ingest", "poster"}), name
    assert "bogfoer-db" in policies
    listener = find(prod, "Kafka", "bogfoer-kafka")["spec"]["kafka"]["listeners"][0]
    peers = listener["networkPolicyPeers"][0]["podSelector"]["matchExpressions"][0]["values"]
    assert sorted(peers) == sorted(f"bogfoer-{name}" for name in (*KAFKA_SERVICES, *JOBS))
    reconcile = policies["bogfoer-reconcile"]
    assert "ingress" not in reconcile  # nothing may connect to it
    ports = {p["port"] for rule in reconcile["egress"] for p in rule.get("ports", [])}
    assert {53, 9093, 5432, 443} <= ports  # DNS, Kafka, PostgreSQL, Dinero


def test_kafka_is_kraft_tls_scram_with_acls(prod: list[Doc]) -> None:
    kafka = find(prod, "Kafka", "bogfoer-kafka")["spec"]["kafka"]
    (listener,) = kafka["listeners"]
    assert listener["tls"] is True
    assert listener["authentication"] == {"type": "scram-sha-512"}
    assert kafka["authorization"] == {"type": "simple"}
    assert kafka["config"]["min.insync.replicas"] == 2
    pool = find(prod, "KafkaNodePool", "nodes")["spec"]
    assert pool["replicas"] == 3
    assert set(pool["roles"]) == {"controller", "broker"}  # KRaft, no ZooKeeper


def test_keda_owns_the_replicas_it_scales(prod: list[Doc]) -> None:
    scaled = {s["spec"]["scaleTargetRef"]["name"] for s in kinds(prod, "ScaledObject")}
    for deployment in kinds(prod, "Deployment"):
        name = deployment["metadata"]["name"]
        assert ("replicas" in deployment["spec"]) == (name not in scaled), name
    assert find(prod, "Deployment", "bogfoer-poster")["spec"]["replicas"] == 2
    limit = find(prod, "ConfigMap", "bogfoer-config")["data"]["BOGFOER_POSTER_DINERO_RATE_LIMIT"]
    # Dinero's 100 calls a minute: one budget in PostgreSQL the replicas share, not split.
    assert int(limit) == 100


def test_the_reconcile_cronjob_is_locked_down_with_its_own_credentials(
    overlay: tuple[str, list[Doc]],
) -> None:
    _, docs = overlay
    cron = find(docs, "CronJob", "bogfoer-reconcile")
    account = find(docs, "ServiceAccount", "bogfoer-reconcile")
    assert account["automountServiceAccountToken"] is False
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert (pod["serviceAccountName"], pod["restartPolicy"]) == ("bogfoer-reconcile", "Never")
    assert pod["securityContext"]["runAsUser"] == UID
    (spec,) = pod["containers"]
    assert spec["command"][:2] == ["bogfoer", "reconcile"]
    sc = spec["securityContext"]
    assert (sc["readOnlyRootFilesystem"], sc["allowPrivilegeEscalation"]) == (True, False)
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert set(spec["resources"]["limits"]) == {"cpu", "memory"}
    env = {
        key: {"name": key, "value": v}
        for key, v in find(docs, "ConfigMap", "bogfoer-config")["data"].items()
    }
    env |= {entry["name"]: entry for entry in spec.get("env", [])}
    assert not required_env(ReconcileSettings) - set(env)
    ours = {v for v in env if v.startswith("BOGFOER_RECONCILE_")}
    assert ours <= known_env(ReconcileSettings), sorted(ours - known_env(ReconcileSettings))
    for var in (
        "PGPASSWORD",
        "BOGFOER_RECONCILE_CREDENTIALS_KEY",
        "BOGFOER_RECONCILE_KAFKA_PASSWORD",
    ):
        assert "secretKeyRef" in env[var]["valueFrom"], var
    assert env["BOGFOER_RECONCILE_KAFKA_USERNAME"]["value"] == "bogfoer-reconcile"
    mounts = {m["mountPath"] for m in spec["volumeMounts"]}
    assert {"/tmp", "/etc/bogfoer/kafka-ca", "/etc/bogfoer/postgres-ca"} <= mounts  # noqa: S108
