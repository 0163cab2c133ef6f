"""Build deploy/Dockerfile without a Docker engine, and prove the image runs the services.

- The Dockerfile's Python base (`PYTHON_IMAGE`) is bootstrapped from Debian's packages with
  mmdebstrap (python3.11, pip, CA certificates), once per recipe, and imported with buildah:
  no image registry is needed, only the Debian archive.
- buildah builds the Dockerfile itself (vfs storage, chroot isolation: no daemon, no
  overlay or user namespaces needed), with a storage of its own under .tools/.
- The image is checked with buildah: it runs as uid 10001, and its own interpreter imports
  all four services (and the C extensions they need) from the image's own files.
- It is written as a docker-archive to dist/bogfoer-<version>.tar, for `kind load
  image-archive` or `skopeo copy` to a registry.

`python -m bogfoer_deploy.image` (`make image`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from bogfoer_deploy.toolchain import cache_root

ROOT = Path(__file__).resolve().parents[3]
STORAGE = ROOT / ".tools" / "containers"
DIST = ROOT / "dist"
SUITE = "bookworm"
# What the official python:3.11-slim offers the Dockerfile, from Debian's packages.
BASE_PACKAGES = ("python3.11", "python3-pip", "ca-certificates", "passwd")
# The host's apt sources (whatever mirror this machine uses) and its CA bundle (a build
# behind a TLS-inspecting proxy must trust what the host trusts; mounted, never copied).
APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
SERVICES = ("ingest", "mapper", "poster", "ledger", "portal")


def version() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return str(project["version"])


def _buildah(*args: str, capture: bool = False) -> str:
    command = [
        "buildah",
        "--storage-driver",
        "vfs",
        "--root",
        str(STORAGE / "root"),
        "--runroot",
        str(STORAGE / "run"),
        *args,
    ]
    result = subprocess.run(command, check=False, capture_output=capture, text=True)
    if result.returncode != 0:
        detail = (result.stderr or "") if capture else ""
        raise RuntimeError(f"{' '.join(command[:8])} … failed ({result.returncode}) {detail}")
    return (result.stdout or "").strip()


def _step(text: str) -> float:
    sys.stdout.write(f"== {text}\n")
    sys.stdout.flush()
    return time.monotonic()


def base_image() -> str:
    """The Python base, bootstrapped from Debian once per recipe; returns its name."""
    recipe = json.dumps([SUITE, BASE_PACKAGES, APT_SOURCES.read_text()])
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    name = f"localhost/bogfoer-python-base:{SUITE}-{digest}"
    if _buildah("images", "--quiet", "--filter", f"reference={name}", capture=True):
        return name
    tarball = cache_root() / "image" / f"python-base-{SUITE}-{digest}.tar"
    if not tarball.exists():
        started = _step(f"bootstrapping {SUITE} with {', '.join(BASE_PACKAGES)} (mmdebstrap)")
        tarball.parent.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".partial")
        subprocess.run(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                "--dpkgopt=path-exclude=/usr/share/doc/*",
                "--dpkgopt=path-exclude=/usr/share/man/*",
                "--dpkgopt=path-exclude=/usr/share/locale/*",
                SUITE,
                str(partial),
                str(APT_SOURCES),
            ],
            check=True,
        )
        partial.rename(tarball)
        sys.stdout.write(f"   {time.monotonic() - started:.0f} s\n")
    container = _buildah("from", "scratch", capture=True)
    try:
        _buildah("add", container, str(tarball), "/")
        # Debian marks its Python as managed by apt; in an image's build stage pip is ours.
        _buildah("config", "--env", "PIP_BREAK_SYSTEM_PACKAGES=1", "--cmd", "python3", container)
        _buildah("commit", "--quiet", container, name, capture=True)
    finally:
        _buildah("rm", container, capture=True)
    return name


def build() -> str:
    """Build deploy/Dockerfile; returns the image name."""
    tag = f"localhost/bogfoer:{version()}"
    base = base_image()
    started = _step(f"building deploy/Dockerfile on {base} (buildah, vfs, chroot)")
    _buildah(
        "build",
        "--quiet",
        "--isolation",
        "chroot",
        "--network",
        "host",
        "--build-arg",
        f"PYTHON_IMAGE={base}",
        "--build-arg",
        f"SSL_CERT_FILE={HOST_CA_BUNDLE}",
        "--build-arg",
        f"PIP_CERT={HOST_CA_BUNDLE}",
        "--volume",
        f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro",
        "--file",
        str(ROOT / "deploy" / "Dockerfile"),
        "--tag",
        tag,
        str(ROOT),
    )
    sys.stdout.write(f"   {time.monotonic() - started:.0f} s\n")
    return tag


def check(tag: str) -> None:
    """The image runs as the unprivileged user and its interpreter imports every service."""
    config = json.loads(_buildah("inspect", "--type", "image", tag, capture=True))
    oci = config["OCIv1"]["config"]
    if oci.get("User") != "10001:10001":
        raise RuntimeError(f"image runs as {oci.get('User')!r}, not 10001:10001")
    if oci.get("Cmd") != ["python", "-m", "bogfoer_ingest"]:
        raise RuntimeError(f"unexpected CMD {oci.get('Cmd')}")
    imports = "; ".join(f"import bogfoer_{s}.app" for s in SERVICES)
    probe = (
        f"{imports}; import asyncpg, pydantic_core, ssl, os; "
        "assert os.getuid() == 10001, os.getuid(); "
        "print('imports ok as uid', os.getuid(), ssl.OPENSSL_VERSION)"
    )
    container = _buildah("from", "--quiet", tag, capture=True)
    try:
        output = _buildah(
            "run", "--isolation", "chroot", container, "--", "python", "-c", probe, capture=True
        )
    finally:
        _buildah("rm", container, capture=True)
    sys.stdout.write(f"   {output}\n")


# What deploy/Dockerfile copies into the image; a build is skipped when none of it changed.
INPUTS = (
    "deploy/Dockerfile",
    ".dockerignore",
    "pyproject.toml",
    "contracts",
    "rules",
    "services",
    "dinero",
    "devstack",
    "deploy/pyproject.toml",
    "deploy/src",
)


def inputs_digest() -> str:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *INPUTS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    digest = hashlib.sha256()
    for name in sorted(set(listed)):
        path = ROOT / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def export(tag: str) -> Path:
    DIST.mkdir(exist_ok=True)
    archive = DIST / f"bogfoer-{version()}.tar"
    archive.unlink(missing_ok=True)
    _buildah("push", "--quiet", tag, f"docker-archive:{archive}:bogfoer:{version()}")
    return archive


def main() -> int:
    for tool in ("buildah", "mmdebstrap"):
        if shutil.which(tool) is None:
            sys.stderr.write(f"{tool} is missing: `make deploy-tools` installs it\n")
            return 2
    STORAGE.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("BUILDAH_ISOLATION", "chroot")
    started = time.monotonic()
    stamp = STORAGE / f"bogfoer-{version()}.inputs"
    archive = DIST / f"bogfoer-{version()}.tar"
    digest = inputs_digest()
    if stamp.exists() and stamp.read_text() == digest and archive.exists():
        sys.stdout.write(f"== {archive.relative_to(ROOT)} is up to date with its inputs\n")
        return 0
    stamp.unlink(missing_ok=True)
    tag = build()
    check(tag)
    archive = export(tag)
    # Earlier builds of the tag and the build stage: vfs keeps full copies of each.
    _buildah("rmi", "--prune", capture=True)
    stamp.write_text(digest)
    size = archive.stat().st_size / 1e6
    took = time.monotonic() - started
    sys.stdout.write(f"== {tag}: {archive.relative_to(ROOT)} ({size:.0f} MB) in {took:.0f} s\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
