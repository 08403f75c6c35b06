"""How reliably `hab run --verify` catches broken allocators (issue 12).

Three home-made broken allocators (tests/allocators): `scribbling` flips a
byte of a live block every 256th allocation, `overlapping_rare` hands out a
live block again on every 4096th request of 16..256 bytes, `leaking` never
frees. Every workload runs in verify mode with its default parameters
(small blocks for rayon_boxes and the cache workloads, so that the
overlapping allocator's band is hit), REPEATS times with different seeds;
the verdict of each (workload, allocator) verify process is counted, split
by whether the fault fired in that process at all (the broken allocators
say so on stderr: an overlap needs a live block of the band to hand out
again, and some workloads never have one).

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


#: What the broken test allocators write to stderr when their fault fires
#: (tests/allocators/broken_common); the leaker's fault is every free.
MARKER = "hab-test-fault:"


def verdicts(cwd: Path, seed: int, threads: str) -> dict:
    """One verify run of every workload: (workload, allocator) -> (verdict
    kind, whether the fault fired, the reason of a failed process)."""
    out = cwd / f"res{seed}"
    argv = [sys.executable, "-m", "hab", "run", "suite.toml", "--verify", "--seed", str(seed), "--out", str(out)]
    done = subprocess.run([*argv, "-t", threads], cwd=cwd, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"hab run failed: {done.stderr.strip()[-500:]}")
    run = out / "latest"
    cells = {c["id"]: c["workload"] for c in json.loads((run / "run.json").read_text())["plan"]["cells"]}
    found = {}
    for path in sorted((run / "verify").glob("*.json")):
        process = json.loads(path.read_text())
        cell, allocator = process["unit"]["cell"], process["unit"]["allocator"]
        kind = "ok" if process["ok"] else process["failure_kind"]
        fired = allocator == "leaking" or MARKER in (process["stderr"] or "")
        found[(cells[cell], allocator)] = (kind, fired, process["reason"])
    return found


def table(title: str, rows: dict) -> None:
    print(f"\n| {title} | verify runs | fault fired | verdicts where it fired | never fired |\n|---|---|---|---|---|")
    for key, results in sorted(rows.items()):
        fired = Counter(kind for kind, f, _ in results if f)
        idle = Counter(kind for kind, f, _ in results if not f)
        name = " | ".join(key) if isinstance(key, tuple) else key
        shown = ", ".join(f"{k} {n}" for k, n in fired.most_common()) or "-"
        print(f"| {name} | {len(results)} | {sum(fired.values())} | {shown} | {sum(idle.values()) or '-'} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="2")
    args = parser.parse_args()
    per_allocator: dict[str, list] = {}
    per_workload: dict[tuple, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        benchmarks = "\n".join(f'[[benchmark]]\nworkload = "{w}"\n{PARAMS.get(w, "")}' for w in WORKLOADS)
        (cwd / "suite.toml").write_text(SUITE.format(benchmarks=benchmarks, crates=CRATES))
        for seed in range(args.repeats):
            for (workload, allocator), result in verdicts(cwd, seed, args.threads).items():
                per_allocator.setdefault(allocator, []).append(result)
                per_workload.setdefault((workload, allocator), []).append(result)
    table("allocator", per_allocator)
    table("workload | allocator", per_workload)
    for (workload, allocator), results in sorted(per_workload.items()):
        for kind, fired, reason in results:
            if fired and kind not in ("corrupt", "leak"):
                print(f"missed: {workload} {allocator}: {kind}: {reason}")


if __name__ == "__main__":
    main()
