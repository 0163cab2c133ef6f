"""Copy every resolved version from uv.lock into [tool.uv] constraint-dependencies.

uv.lock records download addresses, so it stays out of the repository; the pins in
pyproject.toml record only names and versions. Run through `make pin`.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    pins = sorted(
        f"{pkg['name']}=={pkg['version']}"
        for pkg in lock["package"]
        if "version" in pkg
        and not pkg.get("source", {}).get("editable")
        and not pkg.get("source", {}).get("virtual")
    )
    block = "constraint-dependencies = [\n" + "".join(f'    "{p}",\n' for p in pins) + "]"
    pyproject = ROOT / "pyproject.toml"
    text = pyproject.read_text()
    new, count = re.subn(
        r"(# BEGIN PINS\n).*?(\n# END PINS)",
        lambda m: m.group(1) + block + m.group(2),
        text,
        flags=re.DOTALL,
    )
    if count != 1:
        sys.stderr.write("pyproject.toml lacks the # BEGIN PINS / # END PINS markers\n")
        return 1
    pyproject.write_text(new)
    sys.stdout.write(f"pinned {len(pins)} packages\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
