"""`hab report [RUN]` and `hab report A B`: the HTML report of a run, or of
a comparison of two runs (the same comparison `hab compare` prints)."""

import sys
from pathlib import Path

from hab.analysis.run import analyse
from hab.cli import compare
from hab.cli.common import earlier_on_host, skipped_warnings, write_comparison_report, write_run_report
from hab.paths import RESULTS_ROOT
from hab.store import runs


def main(args) -> int:
    output = Path(args.output) if args.output else None
    if len(args.runs) == 2 or args.baseline or args.targets:
        comp, old, new, warnings = compare.prepare(args)
        for warning in warnings:
            print(f"hab: warning: {warning}", file=sys.stderr)
        write_comparison_report(comp, old.meta, new.meta, output or Path(f"report-{old.meta.id}-vs-{new.meta.id}.html"))
        return 0
    root = Path(args.results) if args.results else RESULTS_ROOT
    stored = runs.load(runs.resolve_any(args.runs[0], root) if args.runs else runs.resolve(None, root))
    for warning in skipped_warnings(stored):
        print(f"hab: warning: {warning}", file=sys.stderr)
    result = analyse(stored)
    write_run_report(stored, result, output, earlier_on_host(stored, result))
    return 0
