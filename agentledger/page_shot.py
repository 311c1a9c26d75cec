"""A picture of the chain page: the demo's prompt-injected session, for the README.

``python -m agentledger.page_shot [--out docs/chain-page.png]`` starts a ledger of its own
(in a temporary data directory unless ``--data-dir`` names one), plays the demo's injected
session through the MCP gateway (``agentledger.demo_control``), signs a headless Chromium in
with an analyst key made for the purpose (revoked afterwards), opens the session's page,
reveals the evidence behind the drifting call, and saves the page as a PNG.

Chromium is Debian's ``chromium`` package, driven by Playwright through its
``executable_path``: no browser download (``bin/setup`` installs both).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from kernel.errors import ConfigError

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM_NAMES = ("chromium", "chromium-browser")
INSTALL_CHROMIUM = (
    "Chromium is not installed: `sudo apt-get install -y chromium` (Debian's package; "
    "bin/setup installs it when it runs as root or with sudo), or set "
    "AGENTLEDGER_CHROMIUM to a Chromium executable"
)


def chromium_executable() -> str:
    """The Chromium to drive (``AGENTLEDGER_CHROMIUM``, else the first on ``PATH``)."""
    import os

    given = os.environ.get("AGENTLEDGER_CHROMIUM")
    if given:
        if not Path(given).is_file():
            raise ConfigError(f"AGENTLEDGER_CHROMIUM={given} is not a file")
        return given
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise ConfigError(INSTALL_CHROMIUM)


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium under Playwright (no browser of Playwright's own)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise ConfigError(
            "Playwright is not installed: pip install playwright (the dev extra has it)"
        ) from exc
    executable = chromium_executable()
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Page, http_url: str, credential: str) -> None:
    """Sign ``page`` in as a person would: the form, posted once."""
    page.goto(f"{http_url}/ui/sign-in")
    page.fill("#credential", credential)
    page.click("button[type=submit]")
    page.wait_for_url(f"{http_url}/ui/sessions")


def show_session(page: Page, http_url: str, session_id: str) -> None:
    """The session's page, with the evidence of its first flagged call revealed."""
    page.goto(f"{http_url}/ui/sessions/{session_id}")
    page.wait_for_selector(".step.action")
    page.locator(".step.action", has=page.locator(".drift.flagged")).first.locator(
        ".action-head"
    ).click()
    page.wait_for_selector("pre.record")


async def _take(out: Path, data_dir: Path) -> None:
    from agentledger.auth import ApiKeys
    from agentledger.client import analyst_store, api_key, running_ledger, use_fingerprint_key
    from agentledger.demo_control import run_control_loop
    from kernel.config import load_settings

    settings = load_settings(data_dir=data_dir)
    async with running_ledger(settings) as info:
        use_fingerprint_key(settings)
        with analyst_store(settings, info) as store:
            loop = await run_control_loop(
                settings, info, api_key(settings, info), store, uuid.uuid4().hex[:8]
            )
        keys = ApiKeys(settings.data_dir)
        key, record = keys.create("chain-page-picture", ["analyst"])
        try:
            await asyncio.to_thread(_shoot, out, info.http_url, key, loop["session_id"])
        finally:
            keys.revoke(record["id"])


def _shoot(out: Path, http_url: str, key: str, session_id: str) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        sign_in(page, http_url, key)
        show_session(page, http_url, session_id)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("docs/chain-page.png"))
    parser.add_argument("--data-dir", type=Path, help="a data directory (default: a new one)")
    args = parser.parse_args()
    if args.data_dir is not None:
        asyncio.run(_take(args.out, args.data_dir))
    else:
        with tempfile.TemporaryDirectory(prefix="agentledger-picture-") as scratch:
            asyncio.run(_take(args.out, Path(scratch)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
