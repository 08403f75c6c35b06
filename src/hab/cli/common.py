"""What the commands that show results share: printing them, writing reports and files."""

import sys
from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape

from hab.analysis import anomalies
from hab.analysis import run as analysis
from hab.analysis.anomalies import Earlier
from hab.cli.console import colour, stderr_console, width
from hab.errors import StorageError, UserError
from hab.records.run import RunMeta
from hab.report import jsonout, run_table
from hab.store import rundir, runs
from hab.store.runs import StoredRun


def skipped_warnings(stored: StoredRun) -> list[str]:
    """One line per damaged unit file that the analysis leaves out."""
    return [f"skipped {stored.path / 'units' / name}: {problem}" for name, problem in stored.skipped]


def write_file(path: Path, text: str) -> None:
    """Writes an output file atomically; a path that cannot be written is an
    error naming it."""
    if path.is_dir():
        raise UserError(f"{path} is a directory; give a file name")
    try:
        rundir.write_text(path, text)
    except OSError as e:
        raise StorageError(f"cannot write {path}: {e.strerror or e}") from None


def write_report(text: str, path: Path, what: str) -> None:
    """Writes an HTML report and says where."""
    write_file(path, text)
    stderr_console().print(f"[dim]{escape(what)} report: {escape(str(path))} ({len(text.encode()) / 1024:.0f} KiB)[/]")


def write_run_report(
    stored: StoredRun, result: analysis.RunResult, path: Path | None = None, before: Earlier | None = None
) -> None:
    """The HTML report of a run, into its directory unless `path` is given."""
    from hab.report import html

    write_report(html.run_report(result, stored, before), path or stored.path / html.REPORT_FILE, "HTML")


def earlier_on_host(stored: StoredRun, result: analysis.RunResult) -> Earlier | None:
    """The times of the previous complete run on this machine in the same
    results root, for the "slower than before" flags (a quick analysis)."""
    if stored.meta.source is not None:
        return None
    found = runs.previous_on_host(stored.path)
    if found is None:
        return None
    try:
        before = runs.load(found)
    except UserError:
        return None
    return anomalies.earlier(result, analysis.analyse(before, nresamples=QUICK_RESAMPLES), before.meta.id)


def write_comparison_report(comp, old: RunMeta, new: RunMeta, path: Path) -> None:
    from hab.report import html

    write_report(html.comparison_report(comp, old, new), path, "comparison HTML")


#: Resamples of the quick analysis of an earlier run (its point estimates are what is used).
QUICK_RESAMPLES = 1000


@dataclass
class Shown:
    """What `print_results` analysed: the whole result, and the earlier run it was held against."""

    result: analysis.RunResult
    before: Earlier | None


def print_results(
    stored: StoredRun,
    as_json: bool,
    reference: str | None = None,
    selection: dict | None = None,
    summary_only: bool = False,
    colour_choice: str | None = None,
) -> Shown:
    """Analyses a stored run and prints its table (or JSON) on stdout;
    `selection` narrows what is printed (see `analysis.narrowed`). Cells much
    slower than in the previous run on this machine are flagged."""
    if reference is not None and reference not in stored.plan.allocators:
        raise UserError(f"--reference {reference}: not an allocator of this run ({', '.join(stored.plan.allocators)})")
    for warning in skipped_warnings(stored):
        print(f"hab: warning: {warning}", file=sys.stderr)
    result = analysis.analyse(stored, reference)
    shown = analysis.narrowed(result, stored.meta.workloads, **selection) if selection else result
    before = None if as_json else earlier_on_host(stored, result)
    if as_json:
        text = jsonout.render(shown, stored.meta)
    else:
        text = run_table.render(shown, stored.meta, width(), summary_only, colour(colour_choice), before)
    sys.stdout.write(text)
    sys.stdout.flush()
    return Shown(result, before)
