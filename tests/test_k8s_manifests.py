"""The Kubernetes manifests (deploy/k8s) against the code: pure and fast, no cluster needed.

Parses every manifest and checks what docs/operations.md promises (non-root, read-only root
filesystem, dropped capabilities, probes, requests and limits) and that each Deployment
provides every environment variable its settings class requires (fields without a default,
under their env prefix or alias), and no BOGFOER_* variable the settings class does not
know, so the manifests cannot silently drift from the code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from bogfoer_ingest.settings import IngestSettings
from bogfoer_ledger.settings import LedgerSettings
from bogfoer_mapper.settings import MapperSettings
from bogfoer_poster.settings import PosterSettings

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = ("dev", "prod")
SETTINGS: dict[str, type[BaseSettings]] = {
    "ingest": IngestSettings,
    "mapper": MapperSettings,
    "poster": PosterSettings,
    "ledger": LedgerSettings,
}
UID = 10001
# Read by Python or the OpenTelemetry SDK, not by our settings classes.
FOREIGN_ENV_PREFIXES = ("PYTHON", "OTEL_")

Doc = dict[str, Any]


def load(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def base_docs() -> list[Doc]:
    kustomization = load(BASE / "kustomization.yaml")[0]
    return [doc for name in kustomization["resources"] for doc in load(BASE / name)]


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


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


def config_map() -> dict[str, str]:
    data: dict[str, str] = find(base_docs(), "ConfigMap", "bogfoer-config")["data"]
    return data


def provided_env(deployment: Doc) -> dict[str, Doc]:
    """Every variable the container gets: env entries by name, and the ConfigMap's keys."""
    spec = container(deployment)
    provided: dict[str, Doc] = {}
    for source in spec.get("envFrom", []):
        assert source["configMapRef"]["name"] == "bogfoer-config"
        provided |= {key: {"name": key, "value": v} for key, v in config_map().items()}
    provided |= {entry["name"]: entry for entry in spec.get("env", [])}
    return provided


def test_base_lists_one_manifest_per_service() -> None:
    kustomization = load(BASE / "kustomization.yaml")[0]
    for name in SETTINGS:
        assert f"{name}.yaml" in kustomization["resources"]
        kinds = {d["kind"] for d in load(BASE / f"{name}.yaml")}
        assert {"Deployment", "Service", "ServiceAccount"} <= kinds
    images = {i["name"]: i for i in kustomization["images"]}
    assert images["bogfoer"]["newName"] == "bogfoer"
    assert images["bogfoer"]["newTag"] == "latest"


@pytest.mark.parametrize("name", SETTINGS)
def test_deployment_is_locked_down(name: str) -> None:
    docs = base_docs()
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
    assert sc["seccompProfile"]["type"] == "RuntimeDefault"
    # A read-only root needs a writable /tmp.
    tmp = next(m for m in spec["volumeMounts"] if m["mountPath"] == "/tmp")  # noqa: S108
    volume = next(v for v in pod["volumes"] if v["name"] == tmp["name"])
    assert "emptyDir" in volume
    assert spec["image"] == "bogfoer"
    assert spec["command"] == ["python", "-m", f"bogfoer_{name}"]


@pytest.mark.parametrize("name", SETTINGS)
def test_probes_resources_and_ports_match_the_settings(name: str) -> None:
    settings = SETTINGS[name]
    port = settings.model_fields["http_port"].default
    graceful = settings.model_fields["graceful_timeout_seconds"].default
    docs = base_docs()
    deployment = find(docs, "Deployment", f"bogfoer-{name}")
    spec = container(deployment)
    env = provided_env(deployment)
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
    assert service["spec"]["ports"][0]["targetPort"] == "http"


@pytest.mark.parametrize("name", SETTINGS)
def test_every_required_setting_is_provided(name: str) -> None:
    settings = SETTINGS[name]
    env = provided_env(find(base_docs(), "Deployment", f"bogfoer-{name}"))
    missing = required_env(settings) - set(env)
    assert not missing, f"{name} requires {sorted(missing)}"


@pytest.mark.parametrize("name", SETTINGS)
def test_secrets_come_from_secrets(name: str) -> None:
    settings = SETTINGS[name]
    env = provided_env(find(base_docs(), "Deployment", f"bogfoer-{name}"))
    secret_fields = {
        env_name(settings, f)
        for f, info in settings.model_fields.items()
        if "SecretStr" in str(info.annotation)
    } | {"DATABASE_URL"}
    for var in secret_fields & set(env):
        assert "secretKeyRef" in env[var].get("valueFrom", {}), f"{var} must come from a Secret"
    # ... and no secret sits in the ConfigMap.
    assert not secret_fields & set(config_map())


@pytest.mark.parametrize("name", SETTINGS)
def test_no_unknown_bogfoer_variables(name: str) -> None:
    """A misspelt variable would be ignored by the service (extra="ignore"): refuse it here."""
    settings = SETTINGS[name]
    env = provided_env(find(base_docs(), "Deployment", f"bogfoer-{name}"))
    prefix = str(settings.model_config.get("env_prefix"))
    ours = {v for v in env if v.startswith(prefix)}
    assert ours <= known_env(settings), sorted(ours - known_env(settings))


def test_config_map_keys_belong_to_a_service() -> None:
    known = set().union(*(known_env(s) for s in SETTINGS.values()))
    for key in config_map():
        assert key in known or key.startswith(FOREIGN_ENV_PREFIXES), key


def test_ingest_has_a_disruption_budget() -> None:
    docs = base_docs()
    pdb = find(docs, "PodDisruptionBudget", "bogfoer-ingest")
    deployment = find(docs, "Deployment", "bogfoer-ingest")
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]


def _resolve(doc: Any, path: str) -> Any:
    node = doc
    for part in path.strip("/").split("/"):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_patches_hit_the_base(overlay: str) -> None:
    """Every patch target exists and every `replace` path resolves in it."""
    folder = K8S / "overlays" / overlay
    kustomization = load(folder / "kustomization.yaml")[0]
    assert "../../base" in kustomization["resources"]
    for resource in kustomization["resources"]:
        assert (folder / resource).exists(), resource
    docs = base_docs()
    for entry in kustomization.get("replicas", []):
        find(docs, "Deployment", entry["name"])
    for patch in kustomization.get("patches", []):
        target = patch["target"]
        targets = [
            d
            for d in docs
            if d["kind"] == target["kind"]
            and ("name" not in target or d["metadata"]["name"] == target["name"])
        ]
        assert targets, target
        for op in yaml.safe_load(patch["patch"]):
            if op["op"] == "replace":
                for doc in targets:
                    _resolve(doc, op["path"])
    if overlay == "prod":
        counts = {e["name"]: e["count"] for e in kustomization["replicas"]}
        base = find(docs, "Deployment", "bogfoer-ingest")["spec"]["replicas"]
        assert counts["bogfoer-ingest"] > base
        assert (
            counts["bogfoer-ledger"]
            > find(docs, "Deployment", "bogfoer-ledger")["spec"]["replicas"]
        )


def test_every_yaml_file_parses() -> None:
    files = sorted(K8S.rglob("*.yaml"))
    assert len(files) >= 9
    for path in files:
        for doc in load(path):
            assert "kind" in doc, path
