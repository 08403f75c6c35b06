"""Validates hab's statistics with real engine runs (issue 3's five figures).

  aa            A/A: one cell of the default suite with its allocators, two
                `hab run`s of identical code back to back, compared in both
                modes (relative to the reference, --absolute); repeated N
                times; every allocator's verdict counts, with Clopper-Pearson
                intervals. criterion's decision rule on the same pairs.
                Interval coverage: how often run B's estimate falls inside
                run A's interval (times; ratios paired and unpaired).
  power         the same with a slowdown of the target allocator planted in
                run B (`hab run --spin`), calibrated by measurement; the
                achieved slowdown from the data, detection rates.
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
import inspect
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import binomtest, norm

from hab.analysis import comparison
from hab.analysis import run as analysis
from hab.interop.criterion import rule
from hab.records.plan import Cell, Plan, Sampling, Unit
from hab.records.run import RunMeta, RunStatus
from hab.records.unit import EnginePlan, Samples, UnitRecord, Work
from hab.stats import bootstrap
from hab.stats.change import Verdict
from hab.store import runs as store
from hab.store.rundir import RunDir, new_id
from hab.suite.suite import load_preset

IMPROVED, REGRESSED = Verdict.IMPROVED, Verdict.REGRESSED

ROOT = Path(__file__).resolve().parents[1]
#: The cell every A/A and power pair runs: the default suite's second cell.
#: Extra `hab run` options for every run (--run-args), e.g. finer interleaving.
RUN_ARGS: list[str] = []
CELL = ["-w", "rayon_boxes", "-p", "max_size=64KiB", "-p", "iters_per_task=1000", "-p", "keep_max=64"]


def hab(*args, cwd) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "hab", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"hab {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def run_cell(cwd: Path, allocators: str, name: str, spin: str | None = None, extra=()) -> Path:
    """One default-settings run of the cell for `allocators` (comma list);
    `spin` is a `--spin ALLOC=NS` value."""
    spun = ["--spin", spin] if spin else []
    hab("run", "-a", allocators, *CELL, *RUN_ARGS, *spun, *extra, "--out", str(cwd / name), cwd=cwd)
    return (cwd / name / "latest").resolve()


def per_iteration(run: Path, allocator: str) -> np.ndarray:
    stored = store.load(run)
    return np.concatenate(
        [
            np.asarray(u.samples.ns, float) / np.asarray(u.samples.iters, float)
            for u in stored.units.values()
            if u.ok and u.unit.allocator == allocator
        ]
    )


def independent_ratio(row, ref, confidence=0.95):
    """The ratio to the reference as hab computed it before pairing: two
    independent bootstrap distributions."""
    est, _ = bootstrap.ratio(row.typical.point, row.dist, ref.typical.point, ref.dist, confidence)
    return est


def inside(value: float, est) -> bool:
    return est.lower <= value <= est.upper


def pair_records(a: Path, b: Path, args, rng) -> list[dict]:
    """One record per allocator of the A/B pair of stored runs `a`, `b`."""
    out = []
    ra, rb = analysis.analyse(store.load(a)), analysis.analyse(store.load(b))
    absolute = comparison.compare(ra, rb, threshold=0.01)
    unguarded = comparison.compare(ra, rb, threshold=0.01, drift_guard=False)
    relative = comparison.compare(ra, rb, threshold=0.01, relative_to=args.reference)
    by = {
        mode: {r.allocator: r.change for r in comp.cells[0].rows if r.change}
        for mode, comp in (("absolute", absolute), ("unguarded", unguarded), ("relative", relative))
    }
    rows_a = {r.allocator: r for r in ra.cells[0].rows}
    rows_b = {r.allocator: r for r in rb.cells[0].rows}
    ref_a, ref_b = rows_a[args.reference], rows_b[args.reference]
    for allocator, change in by["absolute"].items():
        row_a, row_b = rows_a[allocator], rows_b[allocator]
        record = {
            "allocator": allocator,
            "absolute": change.verdict,
            "absolute_ratio": change.ratio,
            "absolute_reason": change.reason,
            "unguarded": by["unguarded"][allocator].verdict,
            "relative": by["relative"][allocator].verdict,
            "relative_ratio": by["relative"][allocator].ratio,
            "criterion": rule.decide(per_iteration(a, allocator), per_iteration(b, allocator), rng),
            "time_covered": inside(row_b.typical.point, row_a.typical),
            "time_half_width": row_a.relative_half_width,
            "process_cv": float(np.std(row_a.process_typicals, ddof=1) / np.mean(row_a.process_typicals)),
        }
        if allocator != args.reference:
            paired = row_a.ratio.estimate
            unpaired = independent_ratio(row_a, ref_a)
            b_point = row_b.typical.point / ref_b.typical.point
            rounds = np.log(analysis.per_round(row_a, ref_a))
            record |= {
                "round_sd": float(np.std(rounds, ddof=1)),
                "paired_covered": inside(b_point, paired),
                "paired_width": paired.upper / paired.lower,
                "unpaired_covered": inside(b_point, unpaired),
                "unpaired_width": unpaired.upper / unpaired.lower,
            }
        out.append(record)
    return out


def _complete(out: Path) -> bool:
    """Whether the results root `out` holds a finished run."""
    latest = out / "latest"
    return latest.exists() and store.read_meta(latest.resolve()).status == RunStatus.COMPLETE


def _code_fingerprint(args) -> str:
    """What a kept pair's records depend on besides its runs: the functions
    that compute them, hab's code and the reference allocator."""
    computed = (pair_records, per_iteration, independent_ratio, inside)
    digest = hashlib.sha256("".join(map(inspect.getsource, computed)).encode() + args.reference.encode())
    for source in sorted((ROOT / "src" / "hab").rglob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def kept_records(pair: Path, args, seed: int) -> list[dict]:
    """`pair_records` of a kept pair, cached in the pair's directory for as
    long as the code that computes them is unchanged."""
    cache = pair / f"records-{_code_fingerprint(args)}-{seed}.pickle"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    a, b = ((pair / side / "latest").resolve() for side in "ab")
    records = pair_records(a, b, args, np.random.default_rng(seed))
    cache.write_bytes(pickle.dumps(records))
    return records


def pairs(args, spin: str | None) -> list[dict]:
    """A/B pairs of runs (B with `--spin spin`); one record per pair and
    allocator. With --keep DIR the runs stay in DIR, pairs already there
    count towards --pairs; their records are cached per pair and computed
    again whenever the code behind them changed."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(args.keep) if args.keep else Path(tmp)
        cwd.mkdir(parents=True, exist_ok=True)
        done = sorted(p for p in cwd.glob("pair-*") if _complete(p / "b"))
        for i in range(args.pairs):
            if i < len(done):
                pair = done[i]
            else:
                pair = cwd / f"pair-{time.strftime('%Y%m%d-%H%M%S')}"
                run_cell(cwd, args.allocators, f"{pair.name}/a")
                run_cell(cwd, args.allocators, f"{pair.name}/b", spin)
            records = kept_records(pair, args, 12345 + i)
            out += records
            summary = ", ".join(
                f"{r['allocator']} {r['relative']}/{r['absolute']} "
                f"(B/A {r['relative_ratio'].point:.4f} relative, {r['absolute_ratio'].point:.4f} absolute)"
                for r in records
            )
            print(f"  pair {i + 1}/{args.pairs}: {summary}", file=sys.stderr, flush=True)
            if not args.keep:
                shutil.rmtree(pair)
    return out


def rate(k: int, n: int) -> str:
    """k/n with its exact (Clopper-Pearson) 95% interval."""
    if n == 0:
        return "0/0"
    ci = binomtest(k, n).proportion_ci(0.95, method="exact")
    return f"{k}/{n} = {k / n:.1%} [{ci.low:.1%}, {ci.high:.1%}]"


def _calls(results, key) -> tuple[int, int, int]:
    """(false calls, inconclusive, n) of a verdict column."""
    verdicts = [r[key] for r in results if r[key] not in (None, Verdict.REFERENCE)]
    false = sum(v in (IMPROVED, REGRESSED) for v in verdicts)
    return false, sum(v == Verdict.INCONCLUSIVE for v in verdicts), len(verdicts)


def aa(args) -> str:
    results = pairs(args, None)
    lines = [
        f"| {args.pairs} A/A pairs of runs, every allocator of each | improved or regressed | inconclusive |",
        "|---|---|---|",
    ]
    for label, key in (
        (f"`hab compare` (default: relative to {args.reference})", "relative"),
        ("`hab compare --absolute`", "absolute"),
        ("`hab compare --absolute --no-drift-guard`", "unguarded"),
        ("criterion's rule", "criterion"),
    ):
        false, unsure, n = _calls(results, key)
        lines.append(f"| {label} | {rate(false, n)} | {unsure}/{n} |")
    ratios = [r["absolute_ratio"].point for r in results]
    lines.append(f"| B/A ratio of typical times, min-max | {min(ratios):.3f}-{max(ratios):.3f} | |")
    times = [r["time_covered"] for r in results]
    rel = [r for r in results if "paired_covered" in r]
    lines += [
        "",
        "| coverage: run B's point inside run A's 95% interval (83% for correct independent intervals) | rate |",
        "|---|---|",
        f"| typical time (hierarchical bootstrap) | {rate(sum(times), len(times))} |",
        f"| ratio to {args.reference}, paired by round (t) | {rate(sum(r['paired_covered'] for r in rel), len(rel))} |",
        f"| ratio to {args.reference}, independent bootstraps (before pairing) "
        f"| {rate(sum(r['unpaired_covered'] for r in rel), len(rel))} |",
        "",
        f"Median interval width (upper/lower) of the ratio to {args.reference}: paired "
        f"{np.median([r['paired_width'] for r in rel]):.3f}, independent "
        f"{np.median([r['unpaired_width'] for r in rel]):.3f}; median half-width of a typical time "
        f"{np.median([r['time_half_width'] for r in results]):.1%}.",
        "",
        "Spread between the engine processes of one run (median over runs): coefficient of variation of a "
        f"typical time {np.median([r['process_cv'] for r in results]):.1%}; standard deviation of the log "
        f"per-round ratio to {args.reference} {np.median([r['round_sd'] for r in rel]):.3f}.",
    ]
    return "\n".join(lines) + "\n"


def measured_slowdown(args, spin_ns: float, repetitions: int = 10) -> float:
    """The target's slowdown that `spin_ns` achieves, measured: a run without
    spin and one with it, each relative to the reference of its own run."""
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        allocators = f"{args.reference},{args.target}"
        extra = ["--repetitions", str(repetitions)]
        a = run_cell(cwd, allocators, "a", extra=extra)
        b = run_cell(cwd, allocators, "b", f"{args.target}={spin_ns:g}", extra=extra)
        ra, rb = analysis.analyse(store.load(a)), analysis.analyse(store.load(b))
        comp = comparison.compare(ra, rb, threshold=0.01, relative_to=args.reference)
        (row,) = [r for r in comp.cells[0].rows if r.allocator == args.target]
        return row.change.ratio.point - 1


def calibrate(args, slowdown: float) -> float:
    """spin_ns for `slowdown`, by measurement. A first guess from the time
    per allocation assumes the spin gets whole cores (under load it plants
    several times the intent); instead the slowdown of three times that
    spin is measured on a 16-process pair, where it stands well above the
    noise, and the spin scaled down to the intent (its cost is linear in ns)."""
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        pilot = run_cell(cwd, f"{args.reference},{args.target}", "pilot", extra=["--repetitions", "6"])
        base = analysis.analyse(store.load(pilot)).cells[0]
    row = next(r for r in base.rows if r.allocator == args.target)
    probe = 3 * slowdown * row.typical.point * base.cell.threads / row.work.allocations
    achieved = measured_slowdown(args, probe, repetitions=16)
    print(f"  spin {probe:.1f} ns -> {achieved:+.1%}", file=sys.stderr)
    if achieved <= slowdown:
        raise SystemExit(f"calibration: {probe:.1f} ns of spin achieved only {achieved:+.1%}; the machine is too noisy")
    return probe * slowdown / achieved


def budget_for_power(results: list[dict], slowdown: float, threshold: float = 0.01, power: float = 0.8) -> str:
    """What the relative intervals' median width says about the budget that
    would detect `slowdown` with `power`: the standard error of log(B/A)
    shrinks as one over the square root of the processes, which
    `--precision` buys in proportion to its budget."""
    se = np.median([np.log(r["relative_ratio"].upper / r["relative_ratio"].lower) / (2 * 1.96) for r in results])
    needed = np.log((1 + slowdown) / (1 + threshold)) / (1.96 + norm.ppf(power))
    return (
        f"{slowdown:.0%}: median interval on B/A +-{np.expm1(1.96 * se):.1%} (standard error of its log "
        f"{se:.4f}); {power:.0%} power needs {needed:.4f}, about {(se / needed) ** 2:.1f}x these runs' budget"
    )


def power(args) -> str:
    lines, budgets = [], []
    for slowdown in args.slowdowns:
        spin_ns = args.spin_ns or calibrate(args, slowdown)
        print(f"slowdown {slowdown:.0%}: spin_ns {spin_ns:.1f} for {args.target}", file=sys.stderr)
        everything = pairs(args, f"{args.target}={spin_ns:g}")
        results = [r for r in everything if r["allocator"] == args.target]
        unchanged = [r for r in everything if r["allocator"] != args.target]
        n = len(results)
        achieved = np.array([r["relative_ratio"].point for r in results])
        gm = float(np.exp(np.mean(np.log(achieved))))
        budgets.append(budget_for_power(results, slowdown))
        cells = [
            f"{slowdown:.0%}",
            f"{spin_ns:.1f}",
            f"{gm - 1:+.1%} ({achieved.min() - 1:+.1%} to {achieved.max() - 1:+.1%})",
            rate(sum(r["relative"] == REGRESSED for r in results), n),
            rate(sum(r["absolute"] == REGRESSED for r in results), n),
            rate(sum(r["unguarded"] == REGRESSED for r in results), n),
            f"{sum(r['absolute'] == IMPROVED for r in results)} / {sum(r['unguarded'] == IMPROVED for r in results)}",
            f"{rate(_calls(unchanged, 'absolute')[0], len(unchanged))} / "
            f"{rate(_calls(unchanged, 'unguarded')[0], len(unchanged))}",
            rate(sum(inside(gm, r["relative_ratio"]) for r in results), n),
            rate(sum(r["criterion"] == REGRESSED for r in results), n),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return (
        f"Target allocator {args.target}, runs of {args.allocators}; the others unchanged.\n\n"
        f"| intended | spin_ns (calibrated) | achieved: geometric mean (range) over pairs "
        f"| regressed (relative to {args.reference}) | regressed (--absolute) | regressed (--absolute "
        "--no-drift-guard) | improved: --absolute / unguarded | unchanged allocators called changed, --absolute: "
        "guarded / unguarded | interval covers the achieved mean | criterion's rule: regressed |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n\n" + "\n".join(budgets) + "\n"
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
    parser.add_argument("--spin-ns", type=float, help="`power`: this spin instead of a calibration (one slowdown)")
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument(
        "--keep",
        help="`aa`, `power`: keep every pair's runs in this directory; pairs already in it count towards --pairs",
    )
    parser.add_argument("--run", help="stored run for `reproducible` (default: hab-results/latest)")
    parser.add_argument(
        "--run-args",
        default="",
        help="extra hab run options for every run, e.g. '--repetitions 8 --measurement-time 0.125'",
    )
    args = parser.parse_args()
    RUN_ARGS.extend(args.run_args.split())
    s = load_preset("default").sampling
    print(
        f"<!-- {time.strftime('%Y-%m-%d %H:%M')}, default sampling: {load_preset('default').repetitions} processes x "
        f"{s.sample_size} samples, warm-up {s.warm_up_time} s, measurement {s.measurement_time} s;"
        f" run args {' '.join(RUN_ARGS) or 'none'} -->"
    )
    for name in ["aa", "power", "agreement", "reproducible", "speed"] if args.what == "all" else [args.what]:
        print(f"\n### {name}\n")
        print(globals()[name](args))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
