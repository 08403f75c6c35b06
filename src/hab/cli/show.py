"""`hab show [RUN]`: re-analyse a stored run (or a saved baseline) and print its results."""

from hab.cli.common import print_results
from hab.paths import RESULTS_ROOT
from hab.store import runs


def main(args) -> int:
    path = runs.resolve_any(args.run, RESULTS_ROOT) if args.run else runs.resolve(None, RESULTS_ROOT)
    print_results(runs.load(path), args.json, args.reference)
    return 0
