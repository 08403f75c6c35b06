"""Measures the engine's own costs, for the project's notes and docs.

1. Time to start and stop an engine process (`--describe`, and a minimal
   run whose sampling time is subtracted), over many launches.
2. From a stored run (default: hab-results/latest): the dry variant's time
   as a fraction of each allocator's time, per cell and summarised.

Usage: python benchmarks/engine_overhead.py [RUN_DIR] [--launches N]
"""

import argparse
import json
import statistics
import subprocess
import time

from hab import paths
from hab.analysis import run as analysis
from hab.store import runs as store


def launch_seconds(binary, args, n):
    walls = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run([str(binary), *args], capture_output=True, check=True)
        walls.append(time.perf_counter() - start)
    return walls


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?")
    parser.add_argument("--launches", type=int, default=50)
    args = parser.parse_args()

    binary = paths.binary_path(paths.engine_dir(), "system")
    describe = launch_seconds(binary, ["--describe"], args.launches)
    spec = json.dumps(
        {
            "protocol": 1,
            "workload": "rayon_boxes",
            "threads": 2,
            "params": {"max_size": 64, "iters_per_task": 1},
            "sampling": {"sample_size": 2, "warm_up_time": 0, "measurement_time": 1e-6},
        }
    )
    minimal = launch_seconds(binary, [spec], args.launches)
    print(
        f"engine process start+exit (--describe): median {statistics.median(describe) * 1e3:.2f} ms, "
        f"min {min(describe) * 1e3:.2f} ms over {args.launches} launches"
    )
    print(
        f"minimal benchmark run (pool of 2, 2 samples): median {statistics.median(minimal) * 1e3:.2f} ms, "
        f"min {min(minimal) * 1e3:.2f} ms"
    )

    stored = store.load(store.resolve(args.run, paths.RESULTS_ROOT))
    result = analysis.analyse(stored)
    shares: dict[str, list[float]] = {}
    print(f"\ndry share per cell ({stored.path}):")
    for cell in result.cells:
        row_text = []
        for row in cell.rows:
            if row.engine_share is not None:
                shares.setdefault(row.allocator, []).append(row.engine_share.point)
                row_text.append(f"{row.allocator}={row.engine_share.point:.0%}")
        print(f"  {cell.cell.id} {' '.join(f'{k}={v}' for k, v in cell.cell.params.items())}: {', '.join(row_text)}")
    print("\nsummary: dry time / allocator time over all cells (median, min-max)")
    for name, values in shares.items():
        print(f"  {name:22} {statistics.median(values):6.1%}  ({min(values):.1%}-{max(values):.1%})")
    overhead = [
        u["seconds"] - (sum(u["samples"]["ns"]) + u["warmup"]["ns"]) / 1e9 for u in stored.units.values() if u["ok"]
    ]
    print(f"\nper-process time outside warm-up and samples in this run: median {statistics.median(overhead):.3f} s")


if __name__ == "__main__":
    main()
