"""What the metrics cost a throughput run, measured as ratios within one run.

Runs `hab run` on one workload (default `fastpath`, the tightest loop) in
four configurations, interleaved over several rounds so drift hits them
alike: no RSS sampling, RSS sampling every 20 ms (the default), latency
mode timing one call in 8 (the default), and latency mode timing every
call. Prints each configuration's typical time per allocator relative to
the first. The live-byte books are always on (they are part of every
workload and of its dry variant), so their cost shows in the dry share
instead.

Usage: python benchmarks/probe_overhead.py [--workload W] [--allocators a,b] [--rounds N]
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

CONFIGS = {
    "plain": ["--rss-interval", "0"],
    "rss 20 ms": ["--rss-interval", "0.02"],
    "latency 1/8": ["--rss-interval", "0", "--latency", "8"],
    "latency 1/1": ["--rss-interval", "0", "--latency", "1"],
}


def typical_times(args: list[str], cwd: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "hab", "run", *args, "--json"], cwd=cwd, capture_output=True, text=True, check=True
    )
    doc = json.loads(done.stdout)
    return {r["allocator"]: r["estimates"][r["typical"]]["point"] for c in doc["cells"] for r in c["results"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="fastpath")
    parser.add_argument("--allocators", default="system,jemalloc,mimalloc,talc")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    common = [
        "-w",
        args.workload,
        "-a",
        args.allocators,
        "--no-dry",
        "--repetitions",
        "3",
        "--nresamples",
        "1000",
        "--seed",
        "1",
    ]
    times: dict[str, dict[str, list[float]]] = {name: {} for name in CONFIGS}
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(args.rounds):
            for name, extra in CONFIGS.items():
                for alloc, t in typical_times(common + extra, cwd).items():
                    times[name].setdefault(alloc, []).append(t)
    base = {a: statistics.median(v) for a, v in times["plain"].items()}
    print(f"{args.workload}: typical time relative to 'plain' (median of {args.rounds} rounds)")
    print(f"{'allocator':<24}" + "".join(f"{name:>14}" for name in CONFIGS))
    for alloc, b in base.items():
        ratios = [statistics.median(times[name][alloc]) / b for name in CONFIGS]
        print(f"{alloc:<24}" + "".join(f"{r:>14.3f}" for r in ratios))


if __name__ == "__main__":
    main()
