"""The HTML reports of a real small run and of a comparison, opened in
headless Chromium (Debian's package, installed by `hab setup --browser`):
every plot drawn, no console errors, no network requests, a screenshot;
and the files are self-contained and small."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

#: What one such run's report may weigh at most (it holds every sample's dot).
MAX_RUN_REPORT_BYTES = 1 << 20
FIGURES = {"summary", "times", "ratios", "rss", "latency", "scaling"}


@pytest.fixture(scope="module")
def reports(report_runs):
    a, _, cwd = report_runs
    return a, cwd / "compare.html"


def _browser() -> str:
    found = shutil.which("chromium")
    if found is None:
        message = "Debian's chromium is not installed (`hab setup --browser`)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _open(path: Path, screenshot: Path) -> dict:
    """Loads `path` in headless Chromium: what it drew, logged and fetched."""
    from playwright.sync_api import sync_playwright

    seen = {"errors": [], "requests": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_browser(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 800})
            page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.on("request", lambda r: seen["requests"].append(r.url))
            page.goto(path.as_uri(), wait_until="load")
            seen["figures"] = page.eval_on_selector_all(
                "figure.plot",
                """els => els.map(f => {
                    const svg = f.querySelector('svg'), box = svg ? svg.getBoundingClientRect() : null;
                    return {name: f.dataset.plot, width: box ? box.width : 0, height: box ? box.height : 0,
                            marks: svg ? svg.querySelectorAll('path, use').length : 0};
                })""",
            )
            seen["page_width"] = page.evaluate("document.documentElement.scrollWidth")
            seen["allocators"] = page.eval_on_selector_all(
                "#allocators tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText))"
            )
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return seen


def _check_rendered(seen: dict, path: Path, screenshot: Path) -> None:
    assert seen["errors"] == []
    assert seen["requests"] == [path.as_uri()], "the page fetched something besides itself"
    for figure in seen["figures"]:
        assert figure["width"] > 200 and figure["height"] > 50 and figure["marks"] > 10, figure
    assert seen["page_width"] <= 1366, "the page is wider than a laptop screen"
    png = screenshot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000


@pytest.mark.slow
def test_the_run_report_renders_every_plot_in_chromium(reports, tmp_path):
    run, _ = reports
    path = run / "report.html"
    seen = _open(path, tmp_path / "run.png")
    _check_rendered(seen, path, tmp_path / "run.png")
    names = {f["name"] for f in seen["figures"]}
    assert names == FIGURES, names
    cells = 4  # 2 thread counts x keep_max 0 and 256
    assert sum(f["name"] == "times" for f in seen["figures"]) == cells
    # The allocators' section: glibc told its own version; talc is a Rust crate with nothing to ask.
    rows = {row[0]: row for row in seen["allocators"]}
    assert set(rows) == {"system", "talc"}
    assert rows["system"][3] == f"glibc {os.confstr('CS_GNU_LIBC_VERSION').split()[1]}"
    assert rows["talc"][2].startswith("talc 4.") and rows["talc"][3] == "-"


@pytest.mark.slow
def test_the_comparison_report_renders_in_chromium(reports, tmp_path):
    _, path = reports
    seen = _open(path, tmp_path / "compare.png")
    _check_rendered(seen, path, tmp_path / "compare.png")
    assert [f["name"] for f in seen["figures"]] == ["changes"]
    text = path.read_text()
    assert "regressed" in text and "talc" in text


@pytest.mark.slow
def test_reports_are_self_contained_small_and_reproducible(reports):
    run, compare = reports
    for path in (run / "report.html", compare):
        text = path.read_text()
        assert "<script" not in text and "<link" not in text and "@import" not in text
        assert not re.search(r"""(src|href)\s*=\s*["'](?!#)""", text), "a reference to another file"
        assert not re.search(r"url\(\s*['\"]?(?!#)", text), "a stylesheet URL"
        assert "http://" not in text.replace("http://www.w3.org/", "") and "https://" not in text
    assert (run / "report.html").stat().st_size < MAX_RUN_REPORT_BYTES
    before = (run / "report.html").read_bytes()
    done = subprocess.run(
        ["python3", "-m", "hab", "report", str(run), "-o", str(run / "again.html")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (run / "again.html").read_bytes() == before, "the same samples give the same report"
