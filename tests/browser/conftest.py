"""Browser tests: pytest-playwright drives Debian's Chromium against pytest-django's live server.

Playwright's sync API runs an event loop in this thread, and Django refuses database calls from a thread with a
running loop unless told this is deliberate: the tests' own database calls are, hence DJANGO_ALLOW_ASYNC_UNSAFE.
"""

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import service_missing

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
# Screenshots are kept as the run's artifacts (var/ is ignored by git, and CI uploads it).
ARTIFACTS = ROOT / "var" / "browser"
# axe-core from npm (contracts/package.json); AXE_CORE_PATH points elsewhere where it is installed apart.
AXE_CORE = Path(os.environ.get("AXE_CORE_PATH") or ROOT / "contracts" / "node_modules" / "axe-core" / "axe.min.js")
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        service_missing(f"Chromium at {CHROMIUM} (Debian package chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def sign_in(page, base_url: str, user) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_CORE.exists():
        service_missing(f"axe-core at {AXE_CORE} (npm install in contracts/, or AXE_CORE_PATH)")
    return AXE_CORE.read_text(encoding="utf-8")


@pytest.fixture
def check_accessibility(axe_source):
    """Runs axe-core (WCAG 2.1 A and AA rules) in the page; fails on any serious or critical violation, naming
    each with the elements it found. Evaluated through the DevTools protocol, so the page's CSP is untouched."""

    def check(page, name: str) -> None:
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(axe_source)
        result = page.evaluate(
            "async () => (await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', "
            "'wcag21a', 'wcag21aa']}})).violations.map(v => ({id: v.id, impact: v.impact, help: v.help, "
            "nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
        )
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        assert not bad, f"{name}: {bad}"

    return check
