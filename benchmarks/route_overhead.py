"""What an engine change costs on the timed path, measured as a paired ratio.

Runs two builds of the engine (two target directories, e.g. before and
after a change) side by side: in each round every allocator's old and new
binary run one process each of the same spec, in random order, and the
round's ratio new/old of the time per iteration is taken. The geometric
mean of the rounds' ratios, with a t interval on the logs, is printed per
allocator. Used for the verify-mode heap separation (engine/core/src/route.rs),
whose wrapper adds one relaxed load to every allocator call.

Usage: python benchmarks/route_overhead.py OLD_RELEASE_DIR NEW_RELEASE_DIR
           [--allocators system,jemalloc] [--rounds 12] [--workload fastpath] [--threads 1]
"""

import argparse
import json
import subprocess
from pathlib import Path

import numpy as np
from scipy import stats

MARK = "@@hab "


def per_iteration(binary: Path, spec: dict) -> float:
    """Nanoseconds per iteration of one engine process (all samples pooled)."""
    done = subprocess.run([str(binary), json.dumps(spec)], capture_output=True, text=True, check=True)
    records = [json.loads(line[len(MARK) :]) for line in done.stdout.splitlines() if line.startswith(MARK)]
    samples = [r for r in records if r["type"] == "sample"]
    return sum(r["ns"] for r in samples) / sum(r["iters"] for r in samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--allocators", default="system,jemalloc")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--workload", default="fastpath")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    spec = {
        "protocol": 1,
        "workload": args.workload,
        "threads": args.threads,
        "sampling": {"sample_size": 10, "warm_up_time": 0.2, "measurement_time": 1.0},
    }
    rng = np.random.default_rng(7)
    allocators = args.allocators.split(",")
    logs: dict[str, list[float]] = {a: [] for a in allocators}
    for _ in range(args.rounds):
        for a in allocators:
            order = ["old", "new"] if rng.random() < 0.5 else ["new", "old"]
            times = {side: per_iteration(getattr(args, side) / f"hab-engine-{a}", spec) for side in order}
            logs[a].append(np.log(times["new"] / times["old"]))
    print(f"| allocator | rounds | new/old ({args.workload}, {args.threads} thread) | 95% interval |")
    print("|---|---|---|---|")
    for a, values in logs.items():
        x = np.array(values)
        half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
        mean = x.mean()
        print(f"| {a} | {len(x)} | {np.exp(mean):.4f} | {np.exp(mean - half):.4f}-{np.exp(mean + half):.4f} |")


if __name__ == "__main__":
    main()
