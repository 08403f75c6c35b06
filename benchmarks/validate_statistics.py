"""Validates hab's statistics with real engine runs (issue 3's five figures).

  aa            A/A false positives: one cell of the default suite with its
                allocators, two `hab run`s of identical code back to back,
                `hab compare`; repeated N times; every allocator's verdict
                counts. criterion's decision rule is applied to the same pairs.
  power         the same with a calibrated slowdown of the target allocator
                in run B (`hab run --spin`, sized from a pilot): fraction of
                the target's verdicts that are "regressed" (absolute and
                relative to the reference), and how often the ratio's
                interval covers the true slowdown.
  agreement     builds and runs tests/criterion_bench with criterion, imports
                the tree, compares hab's estimates with criterion's.
  reproducible  analyses one stored run twice: byte-identical table and JSON?
  speed         analysis time for 1000 cells x 100 samples, 100 000 resamples.

Every run uses the default preset's sampling and repetitions unless told
otherwise. Results are printed as Markdown for docs/validation.md.

Usage: python benchmarks/validate_statistics.py {aa,power,agreement,reproducible,speed,all} [options]
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hab.analysis import comparison
from hab.analysis import run as analysis
from hab.interop.criterion import rule
from hab.records.plan import Cell, Plan, Sampling, Unit
from hab.records.run import RunMeta, RunStatus
from hab.records.unit import EnginePlan, Samples, UnitRecord, Work
from hab.stats.change import Verdict
from hab.store import runs as store
from hab.store.rundir import RunDir, new_id
from hab.suite.suite import load_preset

IMPROVED, REGRESSED = Verdict.IMPROVED, Verdict.REGRESSED

ROOT = Path(__file__).resolve().parents[1]
#: The cell every A/A and power pair runs: the default suite's second cell.
CELL = ["-w", "rayon_boxes", "-p", "max_size=64KiB", "-p", "iters_per_task=1000", "-p", "keep_max=64"]


def hab(*args, cwd) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "hab", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"hab {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def run_cell(cwd: Path, allocators: str, name: str, spin: str | None = None) -> Path:
    """One default-settings run of the cell for `allocators` (comma list);
    `spin` is a `--spin ALLOC=NS` value."""
    hab("run", "-a", allocators, *CELL, *(["--spin", spin] if spin else []), "--out", str(cwd / name), cwd=cwd)
    return (cwd / name / "latest").resolve()


def compare(cwd: Path, a: Path, b: Path) -> dict:
    """allocator -> change record of `hab compare a b --json`."""
    out = hab("compare", str(a), str(b), "--json", cwd=cwd).stdout
    return {r["allocator"]: r["change"] for r in json.loads(out)["cells"][0]["results"]}


def per_iteration(run: Path, allocator: str) -> np.ndarray:
    stored = store.load(run)
    return np.concatenate(
        [
            np.asarray(u.samples.ns, float) / np.asarray(u.samples.iters, float)
            for u in stored.units.values()
            if u.ok and u.unit.allocator == allocator
        ]
    )


def pairs(args, spin: str | None) -> list[dict]:
    """A/B pairs of runs (B with `--spin spin`); one record per pair and allocator."""
    out = []
    rng = np.random.default_rng(12345)
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        for i in range(args.pairs):
            a = run_cell(cwd, args.allocators, f"a{i}")
            b = run_cell(cwd, args.allocators, f"b{i}", spin)
            changes = compare(cwd, a, b)
            rel = comparison.compare(
                analysis.analyse(store.load(a)),
                analysis.analyse(store.load(b)),
                threshold=0.01,
                relative_to=args.reference,
            )
            relative = {r.allocator: r.change.verdict for c in rel.cells for r in c.rows if r.change}
            for allocator, change in changes.items():
                crit = rule.decide(per_iteration(a, allocator), per_iteration(b, allocator), rng)
                out.append(
                    {
                        "allocator": allocator,
                        "hab": change["verdict"],
                        "ratio": change["ratio"],
                        "criterion": crit,
                        "relative": relative.get(allocator),
                    }
                )
            summary = ", ".join(f"{r['allocator']} {r['hab']}" for r in out[-len(changes) :])
            print(f"  pair {i + 1}/{args.pairs}: {summary}", file=sys.stderr)
            shutil.rmtree(cwd / f"a{i}")
            shutil.rmtree(cwd / f"b{i}")
    return out


def aa(args) -> str:
    results = pairs(args, None)
    n = len(results)
    ours = sum(r["hab"] in (IMPROVED, REGRESSED) for r in results)
    crit = sum(r["criterion"] in (IMPROVED, REGRESSED) for r in results)
    ours_reg = sum(r["hab"] == REGRESSED for r in results)
    crit_reg = sum(r["criterion"] == REGRESSED for r in results)
    ratios = [r["ratio"]["point"] for r in results]
    per_alloc = ", ".join(
        f"{a} {sum(r['hab'] in (IMPROVED, REGRESSED) for r in results if r['allocator'] == a)}"
        for a in dict.fromkeys(r["allocator"] for r in results)
    )
    rel = [r["relative"] for r in results if r["relative"] is not None]
    rel_false = sum(v in (IMPROVED, REGRESSED) for v in rel)
    return (
        f"| A/A comparisons ({args.pairs} pairs of runs x allocators) | {n} |\n|---|---|\n"
        f"| hab: improved or regressed | {ours}/{n} = {ours / n:.1%} (regressed {ours_reg}) |\n"
        f"| hab, per allocator | {per_alloc} |\n"
        f"| hab compare --relative-to {args.reference}: improved or regressed | "
        f"{rel_false}/{len(rel)} = {rel_false / max(len(rel), 1):.1%} |\n"
        f"| criterion's rule: improved or regressed | {crit}/{n} = {crit / n:.1%} (regressed {crit_reg}) |\n"
        f"| B/A ratio of typical times, min-max | {min(ratios):.3f}-{max(ratios):.3f} |\n"
    )


def calibrate(args, slowdown: float) -> float:
    """spin_ns that slows the target allocator by `slowdown`: a pilot run
    (10 processes) gives its typical time T per iteration and A allocations;
    s*T*threads/A ns of busy work per allocation add s*T of wall time on
    `threads` workers."""
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        hab("run", "-a", args.allocators, *CELL, "--repetitions", "10", "--out", str(cwd / "pilot"), cwd=cwd)
        base = analysis.analyse(store.load((cwd / "pilot" / "latest").resolve())).cells[0]
        row = next(r for r in base.rows if r.allocator == args.target)
        return slowdown * row.typical.point * base.cell.threads / row.work["allocations"]


def power(args) -> str:
    lines = []
    for slowdown in args.slowdowns:
        spin_ns = calibrate(args, slowdown)
        true_ratio = 1.0 + slowdown
        print(f"slowdown {slowdown:.0%}: spin_ns {spin_ns:.1f} for {args.target}", file=sys.stderr)
        results = [r for r in pairs(args, f"{args.target}={spin_ns:g}") if r["allocator"] == args.target]
        n = len(results)
        detected = sum(r["hab"] == REGRESSED for r in results)
        relative = sum(r["relative"] == REGRESSED for r in results)
        crit = sum(r["criterion"] == REGRESSED for r in results)
        covered = sum(r["ratio"]["lower"] <= true_ratio <= r["ratio"]["upper"] for r in results)
        lines.append(
            f"| {slowdown:.0%} | {spin_ns:.1f} | {detected}/{n} = {detected / n:.1%} "
            f"| {relative}/{n} = {relative / n:.1%} | {covered}/{n} = {covered / n:.1%} "
            f"| {crit}/{n} = {crit / n:.1%} |"
        )
    return (
        f"Target allocator {args.target}; the other allocators of the run unchanged.\n\n"
        f"| slowdown | spin_ns | hab: regressed | hab --relative-to {args.reference}: regressed "
        "| CI covers 1 + slowdown | criterion's rule: regressed |\n|---|---|---|---|---|---|\n"
        + "\n".join(lines)
        + "\n"
    )


def agreement(args) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "criterion"
        env = {**os.environ, "CRITERION_HOME": str(tree)}
        subprocess.run(
            ["cargo", "bench", "--locked", "--manifest-path", str(ROOT / "tests/criterion_bench/Cargo.toml")],
            env=env,
            check=True,
            capture_output=True,
        )
        done = hab("import", "criterion", str(tree), "--json", "--out", str(Path(tmp) / "res"), cwd=Path(tmp))
        doc = json.loads(done.stdout)
        rows = []
        worst_point, worst_bound = 0.0, 0.0
        for cell in doc["cells"]:
            bench = cell["params"]["benchmark"]
            theirs = json.loads((tree / bench / "new" / "estimates.json").read_text())
            for name, ours in sorted(cell["results"][0]["estimates"].items()):
                c = theirs[name]
                point = abs(ours["point"] - c["point_estimate"]) / abs(c["point_estimate"])
                lo = abs(ours["lower"] - c["confidence_interval"]["lower_bound"]) / abs(
                    c["confidence_interval"]["lower_bound"]
                )
                hi = abs(ours["upper"] - c["confidence_interval"]["upper_bound"]) / abs(
                    c["confidence_interval"]["upper_bound"]
                )
                worst_point, worst_bound = max(worst_point, point), max(worst_bound, lo, hi)
                rows.append(f"| {bench} | {name} | {point:.1e} | {lo:.2%} | {hi:.2%} |")
    return (
        "| benchmark | estimate | point, relative difference | lower bound | upper bound |\n"
        "|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nLargest point difference {worst_point:.1e}; largest bound difference {worst_bound:.2%}.\n"
    )


def reproducible(args) -> str:
    run = store.resolve(args.run, Path("hab-results"))
    outputs = {}
    for kind in ("table", "json"):
        texts = [
            hab("show", str(run), *(["--json"] if kind == "json" else []), cwd=Path.cwd()).stdout for _ in range(2)
        ]
        outputs[kind] = (texts[0] == texts[1], hashlib.sha256(texts[0].encode()).hexdigest()[:16])
    return "".join(
        f"| {k} | {'identical' if same else 'DIFFERENT'} | sha256 {h}… |\n" for k, (same, h) in outputs.items()
    )


def synthetic_run(path: Path, cells: int, samples: int, processes: int) -> None:
    rng = np.random.default_rng(0)
    cell_list = tuple(Cell(f"c{i:04d}", "synthetic", {"i": i}, 1) for i in range(cells))
    units = tuple(Unit(c.id, "a", r) for r in range(processes) for c in cell_list)
    plan = Plan(cell_list, ("a",), processes, Sampling("auto", samples, 0.0, 0.0), 0.0, 0, units)
    run = RunDir.create(path, RunMeta(new_id(path), RunStatus.COMPLETE, "", plan, {"name": "synthetic"}))
    iters = tuple((np.arange(1, samples + 1) * 10).tolist())
    for u in units:
        ns = np.asarray(iters) * 1000.0 * rng.lognormal(0, 0.05, samples)
        run.keep_unit(
            UnitRecord(
                u,
                None,
                plan=EnginePlan("linear", iters),
                samples=Samples(iters, tuple(ns.tolist())),
                work=Work(100, 1000),
            )
        )


def speed(args) -> str:
    rows = []
    for processes, samples in ((1, 100), (5, 20)):
        with tempfile.TemporaryDirectory() as tmp:
            synthetic_run(Path(tmp), args.cells, samples, processes)
            stored = store.load(store.resolve(None, Path(tmp)))
            start = time.perf_counter()
            analysis.analyse(stored)
            seconds = time.perf_counter() - start
        rows.append(f"| {args.cells} | {processes} x {samples} | 100 000 | {seconds:.1f} s |")
    return "| cells | processes x samples | resamples | analysis time |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["aa", "power", "agreement", "reproducible", "speed", "all"])
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument(
        "--allocators",
        default="system,jemalloc,mimalloc,snmalloc,talc,linked_list_allocator",
        help="allocators in every run (default: the default suite's)",
    )
    parser.add_argument("--target", default="jemalloc", help="allocator whose slowdown `power` measures")
    parser.add_argument("--reference", default="system", help="allocator for the --relative-to comparison")
    parser.add_argument("--slowdowns", type=lambda s: [float(x) for x in s.split(",")], default=[0.03, 0.10])
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--run", help="stored run for `reproducible` (default: hab-results/latest)")
    args = parser.parse_args()
    s = load_preset("default").sampling
    print(
        f"<!-- {time.strftime('%Y-%m-%d %H:%M')}, default sampling: {load_preset('default').repetitions} processes x "
        f"{s.sample_size} samples, warm-up {s.warm_up_time} s, measurement {s.measurement_time} s -->"
    )
    for name in ["aa", "power", "agreement", "reproducible", "speed"] if args.what == "all" else [args.what]:
        print(f"\n### {name}\n")
        print(globals()[name](args))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
