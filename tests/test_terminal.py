"""The terminal output of real runs: it fits the width (80 columns
included) without breaking a word, a summary alone, selections of cells and
allocators, and a baseline shown by name."""

import json

import pytest
from rich.cells import cell_len

from conftest import hab
from hab.store import runs


def _fits(text: str, width: int) -> None:
    lines = text.splitlines()
    assert max(cell_len(line) for line in lines) <= width, max(lines, key=cell_len)


def _words(text: str) -> set[str]:
    """The words of a report, without its rules and its note on left-out columns."""
    kept, in_note = [], False
    for line in text.splitlines():
        if " columns these columns are left out:" in line:
            in_note = True
        elif not (in_note and line.startswith("  ")):
            in_note = False
            kept.append(line)
    return {w for w in " ".join(kept).split() if set(w) != {"─"}}


@pytest.mark.slow
@pytest.mark.parametrize("width", [60, 80, 100])
def test_show_fits_the_width_and_breaks_no_word(report_runs, width):
    a, _, cwd = report_runs
    wide = hab("show", str(a), cwd=cwd, check_exit=0, columns=300).stdout
    narrow = hab("show", str(a), cwd=cwd, check_exit=0, columns=width).stdout
    _fits(narrow, width)
    assert _words(narrow) <= _words(wide), _words(narrow) - _words(wide)
    assert "left out: " in narrow and "left out" not in wide
    for name in ("system", "talc", "Summary", "p99.9"):
        assert name in narrow


@pytest.mark.slow
def test_compare_fits_80_columns(report_runs):
    a, b, cwd = report_runs
    wide = hab("compare", str(a), str(b), cwd=cwd, columns=300)
    narrow = hab("compare", str(a), str(b), cwd=cwd, columns=80)
    assert narrow.returncode == wide.returncode
    _fits(narrow.stdout, 80)
    assert _words(narrow.stdout) <= _words(wide.stdout), _words(narrow.stdout) - _words(wide.stdout)
    assert narrow.stdout.count(" regressed") == wide.stdout.count(" regressed")


@pytest.mark.slow
def test_summary_alone_and_selections(report_runs):
    a, _, cwd = report_runs
    summary = hab("show", str(a), "--summary", cwd=cwd, check_exit=0).stdout
    assert "Summary over 4 cells" in summary and "c00 rayon_boxes" not in summary
    assert "scaling rayon_boxes" not in summary and "memory (means" not in summary
    picked = hab("show", str(a), "-a", "talc", "--cells", "c00,c02", cwd=cwd, check_exit=0).stdout
    assert "c00 rayon_boxes" in picked and "c02 rayon_boxes" in picked and "c01 rayon_boxes" not in picked
    assert "Summary over 2 cells" in picked
    assert not [line for line in picked.splitlines() if line.startswith("system ")]
    doc = json.loads(hab("show", str(a), "-a", "talc", "--cells", "c00", "--json", cwd=cwd, check_exit=0).stdout)
    assert [c["id"] for c in doc["cells"]] == ["c00"]
    assert [r["allocator"] for r in doc["cells"][0]["results"]] == ["talc"]
    assert doc["cells"][0]["results"][0]["ratio_to_reference"]["point"] > 0, "the ratio keeps its reference"
    wrong = hab("show", str(a), "-a", "talcc", cwd=cwd)
    assert wrong.returncode == 2 and "did you mean talc?" in wrong.stderr


@pytest.mark.slow
def test_show_accepts_a_baseline_name(report_runs, tmp_path):
    a, _, _ = report_runs
    runs.save_baseline(a, tmp_path / "hab-results", "main")
    shown = hab("show", "main", cwd=tmp_path, check_exit=0).stdout
    assert shown == hab("show", str(a), cwd=tmp_path, check_exit=0).stdout.replace(str(a), str(a))
    assert f"run {a.name}" in shown


@pytest.mark.slow
def test_colour_on_request_and_never_in_pipes(report_runs):
    a, b, cwd = report_runs
    coloured = hab("compare", str(a), str(b), "--color", "always", cwd=cwd).stdout
    regressed = [line for line in coloured.splitlines() if "regressed" in line and "talc" in line]
    assert regressed and all("\x1b[1;31m" in line for line in regressed)
    assert "\x1b[" not in hab("compare", str(a), str(b), cwd=cwd).stdout, "auto: no colour into a pipe"
    assert "\x1b[" not in hab("show", str(a), "--color", "never", cwd=cwd).stdout


def test_auto_colour_follows_the_terminal_and_no_color(monkeypatch):
    from hab.cli import console

    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert console.colour("auto") and console.colour(None)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not console.colour("auto") and console.colour("always")
    monkeypatch.setenv("NO_COLOR", "")
    monkeypatch.setenv("TERM", "dumb")
    assert not console.colour("auto")
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    monkeypatch.setenv("TERM", "xterm")
    assert not console.colour("auto") and not console.colour("never")


@pytest.mark.slow
def test_a_cell_far_slower_than_in_the_previous_run_here_is_flagged(report_runs):
    a, b, cwd = report_runs
    later = hab("show", str(b), cwd=cwd, check_exit=0).stdout
    flags = [line for line in later.splitlines() if line.lstrip().startswith("~ talc:")]
    assert flags and all(f"its time in run {a.name} on this machine" in line for line in flags), later
    earlier = hab("show", str(a), cwd=cwd, check_exit=0).stdout
    assert "on this machine" not in earlier, "the first run has nothing before it"
    assert f"its time in run {a.name}" in (b / "report.html").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("width", [60, 80, 160])
def test_list_fits_the_width(binaries, tmp_path, width):
    listed = hab("list", cwd=tmp_path, check_exit=0, columns=width).stdout
    _fits(listed, width)
    for name in ("system", "buddy_system_allocator", "mimalloc_debian", "rayon_boxes:", "fragmentation:", "keep_prob"):
        assert name in listed
