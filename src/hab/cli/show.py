"""`hab show [RUN]`: re-analyse a stored run (or a saved baseline) and print
its results, all of them or a selection (`--summary`, `-w`, `-a`, `--cells`)."""

from hab.cli.common import print_results
from hab.errors import unknown
from hab.paths import RESULTS_ROOT
from hab.store import runs
from hab.suite.suite import split_list


def _selection(args, stored) -> dict:
    """The filters asked for, each checked against what the run has."""
    plan = stored.plan
    have = {
        "only_workloads": ("workload", args.workloads, list(dict.fromkeys(c.workload for c in plan.cells))),
        "only_allocators": ("allocator", args.allocators, list(plan.allocators)),
        "only_cells": ("cell", args.cells, [c.id for c in plan.cells]),
    }
    chosen = {}
    for key, (kind, given, known) in have.items():
        if given is None:
            continue
        names = split_list(given, f"--{kind}s")
        for name in names:
            if name not in known:
                raise unknown(f"{kind} of run {stored.meta.id}:", name, known)
        chosen[key] = names
    return chosen


def main(args) -> int:
    path = runs.resolve_any(args.run, RESULTS_ROOT) if args.run else runs.resolve(None, RESULTS_ROOT)
    stored = runs.load(path)
    print_results(stored, args.json, args.reference, _selection(args, stored), args.summary, args.color)
    return 0
