"""What several subcommands share: consoles, output width, printing results."""

import shutil
import sys

from rich.console import Console

from hab.analysis import run as analysis
from hab.errors import UserError
from hab.report import jsonout, run_table
from hab.store.runs import StoredRun


def stderr_console() -> Console:
    """Progress and messages go to stderr; stdout carries only results."""
    return Console(stderr=True, highlight=False)


def width() -> int:
    """Report width: the terminal's, but never below the 120 columns a cell table needs."""
    return max(120, shutil.get_terminal_size((120, 24)).columns)


def skipped_warnings(stored: StoredRun) -> list[str]:
    """One line per damaged unit file that the analysis leaves out."""
    return [f"skipped {stored.path / 'units' / name}: {problem}" for name, problem in stored.skipped]


def print_results(stored: StoredRun, as_json: bool, reference: str | None = None) -> analysis.RunResult:
    """Analyses a stored run and prints its table (or JSON) on stdout."""
    if reference is not None and reference not in stored.plan.allocators:
        raise UserError(f"--reference {reference}: not an allocator of this run ({', '.join(stored.plan.allocators)})")
    for warning in skipped_warnings(stored):
        print(f"hab: warning: {warning}", file=sys.stderr)
    result = analysis.analyse(stored, reference)
    text = jsonout.render(result, stored.meta) if as_json else run_table.render(result, stored.meta, width())
    sys.stdout.write(text)
    sys.stdout.flush()
    return result
