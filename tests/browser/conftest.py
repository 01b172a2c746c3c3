"""Browser tests: Playwright drives Debian's chromium against pytest-django's live server.

Every test under tests/browser is marked ``browser`` (deselect with ``-m "not browser"``) and is
skipped, with the reason, where chromium or Playwright is missing. Playwright's own browser
downloads are never used: ``playwright install`` cannot reach its CDN on our machines, and
Debian's chromium is one ``apt-get install chromium`` away. ``CHROMIUM_PATH`` points elsewhere.

Fixtures:
    browser            one chromium for all the browser tests (package scope, see below)
    page               a fresh, logged-out page in its own context, base URL = the live server
    page_as(user)      a fresh page in its own context, logged in as ``user`` through the login form

A failing test leaves a screenshot of each page it opened under the pytest base temp dir (or
``BROWSER_FAILURE_DIR``); the path is printed in the test's captured teardown output.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

BROWSER_TESTS_DIR = Path(__file__).resolve().parent
DEFAULT_CHROMIUM = "/usr/bin/chromium"
# The factories' password (tests.factories.UserFactory).
PASSWORD = "correct horse battery"
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
# Pages are served by a local thread: anything slower than this is a bug, not a slow network.
TIMEOUT_MS = 10_000

_report_key = pytest.StashKey[dict]()


def chromium_path() -> str:
    return os.environ.get("CHROMIUM_PATH") or DEFAULT_CHROMIUM


def why_unavailable() -> str | None:
    """None when the browser tests can run, else the reason they are skipped."""
    path = chromium_path()
    if not os.access(path, os.X_OK):
        where = f" ({path} not found)" if path != DEFAULT_CHROMIUM else ""
        return f"Debian's chromium is not installed{where}: apt-get install chromium"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed: pip install -r requirements-dev.txt"
    return None


def _is_browser_test(item: pytest.Item) -> bool:
    return BROWSER_TESTS_DIR in Path(item.path).resolve().parents


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A conftest hook sees every collected item, not only this folder's. tryfirst: the mark
    # is added before ``-m`` deselects.
    reason = None
    checked = False
    for item in items:
        if not _is_browser_test(item):
            continue
        item.add_marker(pytest.mark.browser)
        if not checked:
            reason, checked = why_unavailable(), True
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    item.stash.setdefault(_report_key, {})[report.when] = report
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_report_key, {})
    return any(r.failed for r in reports.values())


def _screenshot(request: pytest.FixtureRequest, folder: Path, pages: list) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
    for number, page in enumerate(pages):
        if page.is_closed():
            continue
        path = folder / f"{stem}-{number}.png"
        try:
            page.screenshot(path=str(path), full_page=True)
        except Exception as exc:  # a screenshot must never hide the real failure
            print(f"browser: no screenshot of {page.url}: {exc}")
        else:
            print(f"browser: screenshot of {page.url} at {path}")


@pytest.fixture(scope="package")
def browser():
    """One headless chromium for the whole tests/browser package.

    Package rather than session scope on purpose: Playwright's sync API keeps an asyncio loop
    marked as running in the main thread for as long as it is started, which makes Django's
    ORM refuse to run (SynchronousOnlyOperation) and asgiref's async_to_sync refuse to start.
    The browser tests allow that with DJANGO_ALLOW_ASYNC_UNSAFE; stopping Playwright when the
    package ends gives the tests that run after them a normal main thread back.
    """
    reason = why_unavailable()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_page(
    browser, live_server, transactional_db, request, tmp_path_factory
) -> Iterator[Callable[[], object]]:
    """new_page() → a page in a context of its own (own cookies), base URL = the live server.

    The live server runs in a thread with its own database connection, so the test's rows must
    be committed: hence ``transactional_db`` (the ``db`` of fixtures like ``world`` becomes
    transactional too when a test also asks for this one)."""
    contexts = []
    pages = []

    def make():
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        # The app has no favicon; chromium's request would only add a 404 to every log.
        context.route("**/favicon.ico", lambda route: route.fulfill(status=204))
        contexts.append(context)
        page = context.new_page()
        pages.append(page)
        return page

    yield make
    if _failed(request):
        configured = os.environ.get("BROWSER_FAILURE_DIR")
        folder = (
            Path(configured) if configured else tmp_path_factory.getbasetemp() / "browser-failures"
        )
        _screenshot(request, folder, pages)
    for context in contexts:
        context.close()
    _wait_for_requests_in_flight()


def _wait_for_requests_in_flight(timeout: float = 15.0) -> None:
    """Wait until the live server has answered every request the closed pages had sent.

    A page's polling (a heartbeat, a status poll) can be mid-request when the test ends;
    its thread then still holds the in-memory SQLite database (the session row it writes)
    while the next fixture flushes it, and the flush fails with "database table is locked".
    The live server runs each request in a thread of socketserver's, named after its
    target."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [
            thread
            for thread in threading.enumerate()
            if thread.name.endswith("(process_request_thread)") and thread.is_alive()
        ]
        if not busy:
            return
        busy[0].join(0.05)


@pytest.fixture
def page(new_page):
    """A logged-out page; ``page.goto("/")`` opens the live server's home."""
    return new_page()


@pytest.fixture
def page_as(new_page):
    """page_as(user, *, password=PASSWORD) → a page in its own context, logged in as ``user``
    through the real login form and showing that user's home page. Call it once per person a
    test needs: each page has its own cookies."""

    def login(user, *, password: str = PASSWORD):
        page = new_page()
        page.goto("/accounts/login/")
        page.fill("#id_username", user.get_username())
        page.fill("#id_password", password)
        page.click("form[action$='/accounts/login/'] button[type=submit]")
        # The login page has neither: whichever comes first is the answer to the POST.
        page.locator("[data-role-home], [role=alert]").first.wait_for()
        if page.locator("[data-role-home]").count() == 0:
            error = page.locator(".error").all_inner_texts()
            raise AssertionError(
                f"logging in as {user.get_username()!r} did not reach a home page "
                f"(at {page.url}; {' '.join(error) or 'no error shown'})"
            )
        return page

    return login
