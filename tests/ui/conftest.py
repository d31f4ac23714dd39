"""Browser tests of the ``aim up`` page: a real server (tests/conftest.py's ``aim_up``), a real
Chromium (Debian's, driven by Playwright; never downloaded), repositories written by the SDK.

One browser for the whole session (starting Chromium is the slow part); each test gets a fresh
context (its own cookies and storage). Charts are checked by reading plotly's trace list back
from the chart element (``el.data``), never by comparing screenshots; screenshots are saved
for people to look at, under ``$AIM_UI_SCREENSHOTS`` or the test's tmp dir.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
WRITER = Path(__file__).with_name("writer.py")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def shot(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Any, str], Path]:
    """``shot(page, "runs")`` saves a full-page PNG (for people; tests never diff them)."""
    folder = Path(os.environ.get("AIM_UI_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)

    def take(pg: Any, name: str) -> Path:
        path = folder / f"{request.node.name}-{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        return path
    return take


def make_run(repo: Path, experiment: str = "e", lr: float = 0.1, steps: int = 10,
             name: str | None = None, **params: Any) -> str:
    """A finished run (the real SDK) tracking ``loss`` (subset=train) ``steps`` times."""
    from aim import Run

    with Run(repo=str(repo), experiment=experiment, system_tracking_interval=None,
             capture_terminal_logs=False) as run:
        run["hparams"] = {"lr": lr, **params}
        if name:
            run.name = name
        for i in range(steps):
            run.track(1.0 / (i + 1) + lr, name="loss", step=i, context={"subset": "train"})
        return run.hash


def start_writer(repo: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """``writer.py`` in a child process; returns it and the hash it printed."""
    proc = subprocess.Popen([sys.executable, str(WRITER), str(repo), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline().strip()
    err = proc.stderr.read() if proc.poll() is not None else ""
    assert len(first) == 24, f"writer printed {first!r}: {err}"
    return proc, first


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as res:
        return json.loads(res.read())


def line_traces(pg: Any, selector: str = "[data-testid=chart]") -> list[dict[str, Any]]:
    """The line traces of the first chart matching ``selector`` (bands left out): name,
    colour, dash and number of points of each."""
    return pg.evaluate(
        """(sel) => {
            const el = document.querySelector(sel);
            if (!el || !el.data) return [];
            return el.data.filter((t) => t.meta && t.meta.kind === "line").map((t) => ({
                name: t.name, id: t.meta.id, n: t.x.length, color: t.line.color, dash: t.line.dash,
                type: t.type}));
        }""", selector)


def wait_for_lines(pg: Any, count: int, selector: str = "[data-testid=chart]", timeout: float = 15_000) -> None:
    pg.wait_for_function(
        """([sel, count]) => {
            const el = document.querySelector(sel);
            const lines = el && el.data ? el.data.filter((t) => t.meta && t.meta.kind === "line") : [];
            return lines.length === count;
        }""", arg=[selector, count], timeout=timeout)
