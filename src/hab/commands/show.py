"""`hab show [RUN]`: re-analyse a stored run and print its results."""

from hab import store
from hab.commands.common import print_results
from hab.paths import RESULTS_ROOT


def main(args) -> int:
    path = store.resolve(args.run, RESULTS_ROOT)
    print_results(store.load(path), args.json, args.reference)
    return 0
