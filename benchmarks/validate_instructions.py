"""Validates `--metric instructions` with real engine runs: under Valgrind
natively, under QEMU's icount in guests (`--target hermit|linux-vm`).

  aa       the default suite's cells (or --workloads of it) for some
           allocators, N engine processes each (one `hab run --repetitions
           N`): how far each process's instructions per iteration lie from
           the cell's median.
  planted  pairs of small `hab run`s of one cell: A/A pairs (identical runs)
           and pairs with a change of about --change planted in run B by
           `--spin-turns` (turns calibrated by measurement, the achieved
           change read from the data); verdicts of `hab compare --absolute`
           counted, with Clopper-Pearson intervals.
  rank     the default cells at 1 thread, timed and counted, for several
           allocators: do the two metrics order each pair the same way
           where the time intervals separate them?
  cross    one cell counted natively (Valgrind) and in guests (icount):
           instructions per iteration side by side.
  kernels  the seed's workload at growing keep_max, counted in Hermit on
           the released kernel and on a kernel tree (--tree), and natively.

Prints Markdown for docs/metrics.md, docs/validation.md and docs/guests.md.

Usage: python benchmarks/validate_instructions.py {aa,planted,rank,cross,kernels} [options]
"""

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

from hab.analysis import run as analysis
from hab.records.unit import UnitRecord
from hab.store import runs as store

#: The planted pairs' cell: the default suite's first rayon_boxes cell, at 2 threads.
CELL = ["-w", "rayon_boxes", "-p", "max_size=64KiB", "-p", "iters_per_task=2000", "-p", "keep_max=0", "-t", "2"]
COUNTED = ["--metric", "instructions", "--no-dry"]


def hab(*args, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "hab", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        sys.exit(f"hab {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done


def run(cwd: Path, *args: str) -> Path:
    hab("run", *args, "--out", "res", cwd=cwd)
    return (cwd / "res" / "latest").resolve()


def per_iteration(path: Path) -> dict[tuple[str, str], list[float]]:
    """(cell, allocator) -> instructions per iteration of each process."""
    out: dict = {}
    for p in sorted((path / "units").glob("*.json")):
        u = UnitRecord.from_dict(json.loads(p.read_text()))
        if u.ok and u.counts:
            value = sum(u.counts.of("Ir")) / sum(u.samples.iters)
            out.setdefault((u.unit.cell, u.unit.allocator), []).append(value)
    return out


def clopper(k: int, n: int) -> str:
    ci = binomtest(k, n).proportion_ci(0.95, method="exact")
    return f"{k}/{n} = {k / n:.0%} [{ci.low:.0%}, {ci.high:.0%}]"


def aa(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        threads = ["-t", args.threads] if args.threads else []
        where = ["--target", args.target, *(["-w", args.workloads] if args.workloads else [])]
        samples = ["--sample-size", str(args.sample_size)] if args.sample_size else []
        options = [*COUNTED, "--repetitions", str(args.processes), *threads, *where, *samples]
        path = Path(args.table_of) if args.table_of else run(Path(args.keep or tmp), "-a", args.allocators, *options)
        stored = store.load(path)
        cells = {c.id: c for c in stored.plan.cells}
        print("| cell | allocator | processes | instructions/iteration (median) | max deviation | sd/mean |")
        print("|---|---|---|---|---|---|")
        worst = 0.0
        for (cell, allocator), values in sorted(per_iteration(path).items()):
            v = np.asarray(values)
            median = float(np.median(v))
            deviation = float(np.max(np.abs(v - median)) / median)
            worst = max(worst, deviation)
            c = cells[cell]
            print(
                f"| {cell} {c.workload} t={c.threads} | {allocator} | {v.size} | {median:,.0f} | "
                f"{deviation:.3%} | {v.std(ddof=1) / v.mean():.3%} |"
            )
        print(f"\nlargest deviation of one process from its cell's median: {worst:.3%} (run {path.name})")


def _verdict(cwd: Path, a: Path, b: Path, allocator: str) -> tuple[str, float]:
    doc = json.loads(hab("compare", str(a), str(b), "--absolute", "--json", cwd=cwd).stdout)
    change = next(r["change"] for c in doc["cells"] for r in c["results"] if r["allocator"] == allocator)
    return change["verdict"], change["ratio"]["point"]


def planted(args) -> None:
    a = args.allocator
    base = [*CELL, "-a", a, *COUNTED, "--repetitions", str(args.processes), "--target", args.target]
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        plain = run(cwd, *base)
        probe = run(cwd, *base, "--spin-turns", f"{a}=100")
        (i0,) = {k: np.mean(v) for k, v in per_iteration(plain).items()}.values()
        (i1,) = {k: np.mean(v) for k, v in per_iteration(probe).items()}.values()
        turns = max(1, round(args.change * i0 / ((i1 - i0) / 100)))
        print(
            f"{a}: {i0:,.0f} instructions/iteration; 100 turns add {i1 - i0:,.0f}; {turns} turns for {args.change:.1%}"
        )
        aa_verdicts, found, achieved = [], [], []
        previous = plain
        for _ in range(args.pairs):
            again = run(cwd, *base)
            aa_verdicts.append(_verdict(cwd, previous, again, a)[0])
            slower = run(cwd, *base, "--spin-turns", f"{a}={turns}")
            verdict, ratio = _verdict(cwd, again, slower, a)
            found.append(verdict)
            achieved.append(ratio - 1)
            previous = again
            print(f"  A/A {aa_verdicts[-1]:12s}  planted {verdict:12s} achieved {ratio - 1:+.3%}", flush=True)
    false = sum(v in ("improved", "regressed") for v in aa_verdicts)
    hits = sum(v == "regressed" for v in found)
    counts = {v: aa_verdicts.count(v) for v in sorted(set(aa_verdicts))}
    print(f"\nA/A false calls: {clopper(false, len(aa_verdicts))}; verdicts {counts}")
    print(f"planted change found (regressed): {clopper(hits, len(found))}")
    print(f"achieved change: mean {np.mean(achieved):+.3%}, range {min(achieved):+.3%} .. {max(achieved):+.3%}")


def rank(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        common = ["-a", args.allocators, "-t", "1", "--no-dry"]
        timed = analysis.analyse(store.load(run(cwd, *common)))
        counted_run = store.load(run(cwd, *common, *COUNTED[:2], "--repetitions", "3"))
        counted = analysis.analyse(counted_run)
    by_cell = {c.cell.id: c for c in counted.cells}
    _slowdown(timed, counted_run)
    agree = disagree = unseparated = 0
    for cell in timed.cells:
        rows = {r.allocator: r for r in cell.rows if r.ok}
        other = {r.allocator: r for r in by_cell[cell.cell.id].rows if r.ok}
        for x, y in itertools.combinations(sorted(rows.keys() & other.keys()), 2):
            tx, ty = rows[x].typical, rows[y].typical
            if not (tx.upper < ty.lower or ty.upper < tx.lower):
                unseparated += 1
                continue
            same = (tx.point < ty.point) == (other[x].typical.point < other[y].typical.point)
            agree += same
            disagree += not same
            if not same:
                print(
                    f"| {cell.cell.id} {cell.cell.workload} | {x} vs {y} | time {tx.point / ty.point:.3f}x | "
                    f"instructions {other[x].typical.point / other[y].typical.point:.3f}x |"
                )
    print(
        f"\npairs whose time intervals separate: {agree + disagree}; same order in instructions: {agree}; "
        f"opposite: {disagree}; not separated by time: {unseparated}"
    )


def _slowdown(timed, counted_run) -> None:
    """Valgrind's slowdown: the engine's own clock per iteration under
    callgrind over the typical native time, per (cell, allocator)."""
    native = {(c.cell.id, r.allocator): r.typical.point for c in timed.cells for r in c.rows if r.ok}
    factors = []
    for u in counted_run.units.values():
        key = (u.unit.cell, u.unit.allocator)
        if u.ok and key in native:
            factors.append(sum(u.samples.ns) / sum(u.samples.iters) / native[key])
    f = np.asarray(factors)
    print(f"callgrind slowdown over native time: median {np.median(f):.0f}x, range {f.min():.0f}x .. {f.max():.0f}x")


def cross(args) -> None:
    """One cell counted natively (Valgrind) and in each guest (icount)."""
    cell = ["-w", args.workload, *itertools.chain.from_iterable(["-p", p] for p in args.param), "-t", args.threads]
    targets = ["native", *args.guests.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(args.keep or tmp)
        counted = COUNTED[:2]  # with the dry variant: the engine's own work, no allocator call
        path = run(cwd, *cell, "-a", args.allocators, *counted, "--repetitions", "2", "--target", ",".join(targets))
        stored = store.load(path)
    target_of = {c.id: c.target for c in stored.plan.cells}
    per = {(target_of[c], a): float(np.median(v)) for (c, a), v in per_iteration(path).items()}
    print(f"| allocator | {' | '.join(targets)} | {' | '.join(f'{t} / native' for t in targets[1:])} |")
    print("|---" * (2 * len(targets)) + "|")
    for a in [*args.allocators.split(","), "dry"]:
        native = per.get(("native", a))
        counts = [f"{per[(t, a)]:,.0f}" if (t, a) in per else "–" for t in targets]
        ratios = [f"{per[(t, a)] / native:.3f}" if native and (t, a) in per else "–" for t in targets[1:]]
        print(f"| {a} | {' | '.join(counts)} | {' | '.join(ratios)} |")
    print(f"\n(run {path.name}: {' '.join(cell)}, 2 processes each, median instructions per iteration)")


def kernels(args) -> None:
    """The seed's workload at growing keep_max (4 KiB boxes, every one
    kept until keep_max, then a random one freed for each new one):
    instructions per iteration in Hermit on the released kernel and on
    `--tree`, and natively."""
    common = [
        *["-w", "rayon_boxes", "-p", "max_size=4KiB", "-p", "iters_per_task=4000", "-p", "keep_prob=1"],
        *["-p", f"keep_max={args.keep_max}", "-p", f"init={args.init}", "-t", "1", *COUNTED, "--repetitions", "2"],
    ]
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(args.keep or tmp)
        kernels_given = ["--hermit-kernel", "v0.11.0", "--hermit-kernel", f"v0.11.0+{args.label}={args.tree}"]
        guest = run(cwd, *common, "-a", "system,talc", "--target", "hermit", *kernels_given)
        native = run(cwd, *common, "-a", "system,talc", "--target", "native")
    cells = {c.id: c for run_path in (guest, native) for c in store.load(run_path).plan.cells}
    table: dict = {}
    for run_path, where in ((guest, "hermit"), (native, "native")):
        for (cell, allocator), values in per_iteration(run_path).items():
            table.setdefault(cells[cell].params["keep_max"], {})[f"{where} {allocator}"] = float(np.median(values))
    columns = sorted({c for row in table.values() for c in row}, key=lambda c: (not c.startswith("hermit"), c))
    print(f"| keep_max | {' | '.join(columns)} |")
    print("|---" * (len(columns) + 1) + "|")
    for keep in sorted(table):
        shown = [f"{table[keep][c]:,.0f}" if c in table[keep] else "–" for c in columns]
        print(f"| {keep} | {' | '.join(shown)} |")
    print(f"\n(runs {guest.name} and {native.name}: median instructions per iteration over 2 processes)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("aa")
    a.add_argument("--allocators", default="system,jemalloc")
    a.add_argument("--processes", type=int, default=20)
    a.add_argument("--threads", help="thread counts (default: the suite's, the available cores)")
    a.add_argument("--target", default="native", help="native (Valgrind), hermit or linux-vm (QEMU's icount)")
    a.add_argument("--workloads", help="only these workloads of the default suite")
    a.add_argument("--keep", metavar="DIR", help="keep the run in DIR (default: a temporary folder)")
    a.add_argument("--sample-size", type=int, help="samples per process (default: the suite's)")
    a.add_argument("--table-of", metavar="RUN", help="print the table of this run (one finished with --resume)")
    b = sub.add_parser("planted")
    b.add_argument("--allocator", default="system")
    b.add_argument("--target", default="native")
    b.add_argument("--pairs", type=int, default=10)
    b.add_argument("--processes", type=int, default=3)
    b.add_argument("--change", type=float, default=0.01)
    c = sub.add_parser("rank")
    c.add_argument("--allocators", default="system,jemalloc,mimalloc,rpmalloc,talc,tcmalloc")
    x = sub.add_parser("cross")
    x.add_argument("--workload", default="rayon_boxes")
    x.add_argument("--param", action="append", default=["max_size=4KiB", "iters_per_task=2000", "keep_max=0"])
    x.add_argument("--threads", default="1")
    x.add_argument("--allocators", default="system,jemalloc,mimalloc,talc")
    x.add_argument("--guests", default="linux-vm")
    x.add_argument("--keep", metavar="DIR")
    k = sub.add_parser("kernels")
    k.add_argument("--tree", required=True, help="a kernel source tree (v0.11.0 with a change)")
    k.add_argument("--label", default="no-overalign", help="its label after v0.11.0+")
    k.add_argument("--keep-max", default="0,64,256,1024,4096", help="comma-separated keep_max values")
    k.add_argument("--init", default="zero", help="the workload's init (zero: the seed's; none: no writes)")
    k.add_argument("--keep", metavar="DIR")
    args = p.parse_args()
    {"aa": aa, "planted": planted, "rank": rank, "cross": cross, "kernels": kernels}[args.what](args)


if __name__ == "__main__":
    main()
