"""Every overlay rendered and checked offline, as a cluster's API server would check it.

Each overlay is built with the pinned kustomize. Every resulting object is validated
strictly (an unknown field is an error, as with `kubectl apply --validate=strict`):
Kubernetes' own kinds against the OpenAPI schemas `kubernetes-validate` ships for the
Kubernetes version we target, custom resources against the `openAPIV3Schema` of their
operator's CRD at the pinned operator version (`toolchain`). An object whose kind no schema
describes is an error too, so nothing reaches a cluster unchecked.

`python -m bogfoer_deploy.validate` prints one line per object; `tests/test_deploy_manifests.py`
runs the same in `make test`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from bogfoer_deploy import toolchain

K8S = Path(__file__).resolve().parents[2] / "k8s"
OVERLAYS = ("dev", "prod")

Doc = dict[str, Any]


def build(overlay: str) -> list[Doc]:
    """`kustomize build deploy/k8s/overlays/<overlay>`, parsed."""
    result = subprocess.run(
        [str(toolchain.kustomize()), "build", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kustomize build {overlay} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@dataclass(frozen=True)
class Finding:
    kind: str
    name: str
    checked_against: str
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


class _CrdLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML 1.1 reads a lone `=` as the obsolete `value` tag; in CRD enums it is a string."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: node.value)


def _strict(schema: Any) -> Any:
    """A CRD's structural schema as strict JSON Schema: objects take no field they do not
    declare (unless they preserve unknown fields), int-or-string and nullable spelled out."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _strict(value) for key, value in schema.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


@cache
def crd_schemas() -> dict[tuple[str, str], tuple[Doc, str]]:
    """(apiVersion, kind) -> (strict schema, which operator's CRD)."""
    schemas: dict[tuple[str, str], tuple[Doc, str]] = {}
    for source in toolchain.CRD_SOURCES:
        label = f"{source.operator} {source.version} CRD"
        for api_version, kind, schema in _operator_schemas(toolchain.crds(source)):
            schemas[(api_version, kind)] = (schema, label)
    return schemas


def _operator_schemas(folder: Path) -> list[tuple[str, str, Doc]]:
    """The served versions' schemas of the CRDs in `folder`, made strict; parsed from the
    YAML once (large: a second each) and kept beside it as JSON."""
    parsed = folder / "strict-schemas.json"
    if parsed.exists():
        return [(a, k, s) for a, k, s in json.loads(parsed.read_text())]
    found: list[tuple[str, str, Doc]] = []
    for path in sorted(folder.glob("*.yaml")):
        for crd in yaml.load_all(path.read_text(), Loader=_CrdLoader):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served", True):
                    schema = _strict(version["schema"]["openAPIV3Schema"])
                    found.append((f"{group}/{version['name']}", kind, schema))
    parsed.write_text(json.dumps(found))
    return found


def check(doc: Doc) -> Finding:
    kind, name = doc.get("kind", "?"), doc.get("metadata", {}).get("name", "?")
    key = (doc.get("apiVersion", ""), kind)
    if key in crd_schemas():
        schema, label = crd_schemas()[key]
        errors = sorted(
            jsonschema.Draft7Validator(schema).iter_errors(doc), key=lambda e: list(e.path)
        )
        error = None
        if errors:
            error = "; ".join(f"{'.'.join(map(str, e.path)) or '.'}: {e.message}" for e in errors)
        return Finding(kind, name, label, error)
    version = toolchain.KUBERNETES_VERSION
    label = f"Kubernetes {version}"
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(map(str, exc.path)) or "."
        return Finding(kind, name, label, f"{where}: {exc.message}")
    except kubernetes_validate.SchemaNotFoundError:
        return Finding(kind, name, "nothing", f"no schema for {key[0]} {kind}")
    return Finding(kind, name, label, None)


def validate(overlay: str) -> Iterator[Finding]:
    for doc in build(overlay):
        yield check(doc)


def main() -> int:
    failed = 0
    for overlay in OVERLAYS:
        findings = list(validate(overlay))
        sys.stdout.write(f"overlay {overlay}: {len(findings)} objects\n")
        for f in findings:
            failed += not f.ok
            verdict = "ok" if f.ok else f"INVALID: {f.error}"
            line = f"  {f.kind:<24} {f.name:<34} {f.checked_against:<32} {verdict}\n"
            sys.stdout.write(line)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
