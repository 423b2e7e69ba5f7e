"""The evaluation report and the model server's pages in a real browser.

Headless Chromium (the system's, driven by playwright) opens report.html
from disk and the server's /healthz, /v1/models/{name} and
/v1/models/{name}/report over HTTP on 127.0.0.1; every page must load with
no console error and no uncaught exception, and its screenshot must not be
blank. Without Chromium the test skips, except where KERASDL_REQUIRE_BROWSER=1
(CI installs Chromium from Debian's packages and sets it): there it fails.
"""

from __future__ import annotations

import io
import os
import shutil

import numpy as np
import pytest

import kerasdl
from tests.explain.shapes import shapes_dataset, template_cnn

pytestmark = pytest.mark.one_backend

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def _chromium() -> str:
    found = next((p for p in CHROMIUM_PATHS if os.path.exists(p)), None)
    found = found or shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        found = None
    if found is None:
        message = (
            "no Chromium (apt-get install chromium) or no playwright "
            "(pip install -e .[dev]) for the browser test"
        )
        if os.environ.get("KERASDL_REQUIRE_BROWSER") == "1":
            pytest.fail(message + "; KERASDL_REQUIRE_BROWSER=1 requires them")
        pytest.skip(message)
    return found


def _console(message, problems: list) -> None:
    """Collects console errors, except the browser's own favicon request.

    Chromium asks every http page's server for /favicon.ico by itself; the
    model server has none, and that 404 is not the page's error.
    """
    url = (message.location or {}).get("url", "")
    if message.type == "error" and not url.endswith("/favicon.ico"):
        problems.append(f"{message.text} ({url})")


def _pixel_std(png: bytes) -> float:
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    return float(image.std())


def test_report_and_server_pages_render_without_console_errors(tmp_path):
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    from kerasdl.serve import BackgroundServer, create_app

    x, y, _ = shapes_dataset(40, seed=3)
    y[:3] = (y[:3] + 1) % 3  # wrong labels: the errors section has examples
    version = tmp_path / "shapes" / "1"
    kerasdl.export(template_cnn(), version, formats=["keras", "tflite"],
                   labels=["square", "plus", "x"])  # fmt: skip
    report = kerasdl.evaluate(
        version, (x, y), report_dir=version / "report", latency_runs=2
    )

    with BackgroundServer(
        create_app([str(tmp_path / "shapes")], poll_seconds=0)
    ) as server:
        pages = {
            "report file": (version / "report" / "report.html").as_uri(),
            "healthz": server.url + "/healthz",
            "model": server.url + "/v1/models/shapes",
            "served report": server.url + "/v1/models/shapes/report",
        }
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                for what, url in pages.items():
                    page = browser.new_page(viewport={"width": 1000, "height": 800})
                    problems = []
                    page.on("console", lambda m, found=problems: _console(m, found))
                    page.on(
                        "pageerror",
                        lambda e, problems=problems: problems.append(str(e)),
                    )
                    response = page.goto(url, wait_until="load")
                    assert response is None or response.ok, (what, response.status)
                    shot = page.screenshot(  # kept in tmp_path for a look
                        full_page=True, path=str(tmp_path / f"{what}.png")
                    )
                    assert problems == [], (what, problems)
                    assert _pixel_std(shot) > 5.0, f"{what} looks blank"
                    if "report" in what:
                        assert page.locator("img").count() == 4
                        assert page.title() == f"Evaluation of {report['model']}"
                        # Every embedded image decoded (a broken data URI has
                        # naturalWidth 0).
                        widths = page.eval_on_selector_all(
                            "img", "imgs => imgs.map(i => i.naturalWidth)"
                        )
                        assert min(widths) > 0
                    page.close()
            finally:
                browser.close()
