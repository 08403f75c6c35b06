"""How reliably `hab run --verify` catches broken allocators (issue 12).

Three home-made broken allocators (tests/allocators): `scribbling` flips a
byte of a live block every 256th allocation, `overlapping_rare` hands out a
live block again on every 4096th request of 16..256 bytes, `leaking` never
frees. Every workload runs in verify mode with its default parameters
(small blocks for rayon_boxes and the cache workloads, so that the
overlapping allocator's band is hit), REPEATS times with different seeds;
the verdict of each (workload, allocator) verify process is counted.

Usage: python benchmarks/verify_detection.py [--repeats N] [--threads T]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CRATES = ROOT / "tests" / "allocators"
WORKLOADS = """rayon_boxes larson xmalloc cache_scratch cache_thrash threadtest fastpath mstress
realloc_growth large fragmentation""".split()
#: Parameters that put the workloads' blocks where `overlapping` breaks (16..256 bytes).
PARAMS = {
    "rayon_boxes": "params = { max_size = 256 }\n",
    "cache_scratch": "params = { obj_size = 64 }\n",
    "cache_thrash": "params = { obj_size = 64 }\n",
}
SUITE = """
name = "verify-detection"
allocators = ["scribbling", "overlapping_rare", "leaking"]
dry = false

{benchmarks}

[sampling]
sample_size = 10
warm_up_time = 0.1
measurement_time = 0.25

[allocator.scribbling]
path = "{crates}/scribbling_alloc"
init = "Scribbling::<256>::new()"
global = "Scribbling<256>"

[allocator.overlapping_rare]
path = "{crates}/overlapping_alloc"
init = "Overlapping::<4096>::new()"
global = "Overlapping<4096>"

[allocator.leaking]
path = "{crates}/leaking_alloc"
init = "Leaking"
"""


def verdicts(cwd: Path, seed: int, threads: str) -> dict:
    """One verify run of every workload; verdict kind by (workload, allocator)."""
    out = cwd / f"res{seed}"
    argv = [sys.executable, "-m", "hab", "run", "suite.toml", "--verify", "--seed", str(seed), "--out", str(out)]
    done = subprocess.run([*argv, "-t", threads], cwd=cwd, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"hab run failed: {done.stderr.strip()[-500:]}")
    meta = json.loads((out / "latest" / "run.json").read_text())
    cells = {c["id"]: c["workload"] for c in meta["plan"]["cells"]}
    found = {}
    for pair, verdict in meta["verify"].items():
        cell, allocator = pair.split("/")
        found[(cells[cell], allocator)] = "ok" if verdict == "ok" else verdict["kind"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        benchmarks = "\n".join(f'[[benchmark]]\nworkload = "{w}"\n{PARAMS.get(w, "")}' for w in WORKLOADS)
        (cwd / "suite.toml").write_text(SUITE.format(benchmarks=benchmarks, crates=CRATES))
        counts: dict[str, Counter] = {}
        per_workload: dict[tuple, Counter] = {}
        for seed in range(args.repeats):
            for (workload, allocator), kind in verdicts(cwd, seed, args.threads).items():
                counts.setdefault(allocator, Counter())[kind] += 1
                per_workload.setdefault((workload, allocator), Counter())[kind] += 1
    print("| allocator | verify runs | verdicts |\n|---|---|---|")
    for allocator, c in counts.items():
        print(f"| {allocator} | {sum(c.values())} | {', '.join(f'{k} {n}' for k, n in c.most_common())} |")
    print("\n| workload | allocator | verdicts |\n|---|---|---|")
    for (workload, allocator), c in sorted(per_workload.items()):
        print(f"| {workload} | {allocator} | {', '.join(f'{k} {n}' for k, n in c.most_common())} |")


if __name__ == "__main__":
    main()
