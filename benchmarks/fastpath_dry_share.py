"""The engine's own share of the `fastpath` workload: the dry variant's time
(every step of the timed loop but the allocator calls) as a fraction of
each allocator's time, or with `--metric instructions` its instructions as
a fraction of each allocator's (counted under callgrind: slower, but
deterministic).

Runs `hab run -w fastpath --json` (one cell, the dry variant included) into
a scratch results directory and prints, per allocator, its typical time per
iteration and the run analysis's `engine_share` (dry typical time / the
allocator's, paired over repetitions) with its interval, then which
allocator was fastest and the dry share of that one, the figure that says
how much of a fast allocator's measured time is the harness. With
`--metric instructions` the per-iteration figure is instructions per
operation (one free and one allocation) instead.

To compare two engine versions, run it once per source tree: `--engine-dir`
points hab at another tree's engine workspace (as HAB_ENGINE_DIR does),
e.g. an old commit checked out with `git worktree add /tmp/old HEAD~1`;
or run that tree's own hab with `--hab "python3 -m hab"` and
PYTHONPATH=/tmp/old/src.

Usage: python benchmarks/fastpath_dry_share.py [--allocators system,jemalloc,mimalloc]
           [--threads 1] [--repetitions 5] [--warm-up-time 0.5] [--measurement-time 1]
           [--param ops=50000 ...] [--metric time|instructions] [--engine-dir DIR] [--hab COMMAND]
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile


def run_hab(args: argparse.Namespace, out: str) -> dict:
    """The `--json` document of one `hab run` of the fastpath cell."""
    command = [
        *shlex.split(args.hab),
        "run",
        "-w",
        "fastpath",
        "-t",
        str(args.threads),
        "-a",
        args.allocators,
        "--repetitions",
        str(args.repetitions),
        "--warm-up-time",
        str(args.warm_up_time),
        "--measurement-time",
        str(args.measurement_time),
        "--metric",
        args.metric,
        "--out",
        out,
        "--json",
    ]
    for p in args.param:
        command += ["-p", p]
    env = dict(os.environ)
    if args.engine_dir:
        env["HAB_ENGINE_DIR"] = args.engine_dir
    print("$ " + " ".join(command), file=sys.stderr)
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"hab run failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout)


def typical(row: dict) -> float | None:
    """The row's typical time (ns) or instruction count per iteration."""
    name = row.get("typical")
    return row["estimates"][name]["point"] if row.get("ok") and name else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allocators", default="system,jemalloc,mimalloc")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repetitions", type=int, default=5, help="engine processes per allocator and the dry variant")
    parser.add_argument("--warm-up-time", type=float, default=0.5)
    parser.add_argument("--measurement-time", type=float, default=1.0)
    parser.add_argument("--param", "-p", action="append", default=[], help="fastpath parameter NAME=VALUE (repeatable)")
    parser.add_argument(
        "--metric", choices=["time", "instructions"], default="time", help="what hab measures (default: time)"
    )
    parser.add_argument("--engine-dir", help="engine workspace to build and run (default: this tree's)")
    parser.add_argument("--hab", default="hab", help='the hab command line (e.g. "python3 -m hab")')
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hab-fastpath-dry-") as out:
        doc = run_hab(args, out)
    for cell in doc["cells"]:
        params = " ".join(f"{k}={v}" for k, v in cell["params"].items())
        print(f"fastpath {params}, {cell['threads']} thread(s), {args.repetitions} processes each")
        # Per iteration: ns shown as us, or instructions shown per operation.
        if args.metric == "time":
            unit, divisor = "us/iter", 1e3
        else:
            unit, divisor = "instr/op", int(cell["params"]["ops"]) * int(cell["threads"])
        dry = cell["dry"]
        dry_x = typical(dry) if dry else None
        print(f"  dry variant: {dry_x / divisor:.1f} {unit}" if dry_x else "  dry variant: no result")
        print(f"  {'allocator':12} {unit:>9} {'dry share':>10}  interval ({doc['analysis']['confidence']:.0%})")
        ok = [r for r in cell["results"] if typical(r) is not None]
        for row in cell["results"]:
            t = typical(row)
            if t is None:
                print(f"  {row['allocator']:12} failed: {'; '.join(row['failures'])}")
                continue
            share = row["engine_share"]
            if share is None:
                print(f"  {row['allocator']:12} {t / divisor:9.1f} {'-':>10}")
            else:
                print(
                    f"  {row['allocator']:12} {t / divisor:9.1f} {share['point']:10.1%}  "
                    f"{share['lower']:.1%}-{share['upper']:.1%}"
                )
        if ok:
            fastest = min(ok, key=typical)
            share = fastest["engine_share"]
            text = f"{share['point']:.1%} ({share['lower']:.1%}-{share['upper']:.1%})" if share else "-"
            what = "fastest" if args.metric == "time" else "fewest instructions"
            print(f"  {what}: {fastest['allocator']}, dry share {text}")


if __name__ == "__main__":
    main()
