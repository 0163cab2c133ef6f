"""Debian's chromium under Playwright for the browser tests: how it is started (never a
downloaded browser; nothing reaching out to the internet) and where screenshots go."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.sync_api import BrowserContext, Playwright

CHROMIUM = "/usr/bin/chromium"
# As root, in a container: no sandbox; and nothing that would reach out to the internet.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]


def screenshots(name: str) -> Path:
    """A fresh `test-output/<name>/` (or `$BOGFOER_TEST_OUTPUT/<name>/`)."""
    folder = Path(os.environ.get("BOGFOER_TEST_OUTPUT", REPO / "test-output")) / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def browser(playwright: Playwright, profile: Path) -> BrowserContext:
    """A fresh browser profile: one user, their own cookies."""
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
        viewport={"width": 1400, "height": 900},
    )
