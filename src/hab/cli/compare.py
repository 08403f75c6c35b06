"""`hab compare A B`: did B get faster or slower than A, cell by cell?"""

import sys
from pathlib import Path

from hab.analysis import comparison
from hab.analysis.run import DEFAULT_REFERENCE, analyse
from hab.cli.common import skipped_warnings, write_comparison_report
from hab.cli.console import colour, width
from hab.errors import UserError
from hab.execution import counting
from hab.paths import RESULTS_ROOT
from hab.records.plan import INSTRUCTIONS, TIME
from hab.records.run import RunStatus
from hab.report import comparison_table
from hab.stats.change import Verdict
from hab.store import runs
from hab.suite.suite import split_list

#: Noise threshold when none is given: times vary by percents between
#: processes here, instruction counts by hundredths of one (docs/metrics.md).
DEFAULT_THRESHOLD = {TIME: 0.01, INSTRUCTIONS: 0.003}


def _runs(args):
    root = Path(args.results) if args.results else RESULTS_ROOT
    if args.baseline:
        if len(args.runs) > 1:
            raise UserError("with --baseline give at most one run to compare against it")
        old = runs.resolve_any(args.baseline, root)
        new = runs.resolve_any(args.runs[0], root) if args.runs else runs.resolve(None, root)
        return old, new
    if args.targets and len(args.runs) == 1:  # two targets of one run
        return runs.resolve_any(args.runs[0], root), runs.resolve_any(args.runs[0], root)
    if len(args.runs) != 2:
        raise UserError("compare needs two runs (A B), --baseline NAME [B], or one run with --targets A,B")
    return runs.resolve_any(args.runs[0], root), runs.resolve_any(args.runs[1], root)


def _targets(args, old, new) -> tuple[str, str] | None:
    """`--targets A,B`: A's cells on target A against B's on target B."""
    if not args.targets:
        return None
    names = split_list(args.targets, "--targets")
    if len(names) != 2 or names[0] == names[1]:
        raise UserError(f"--targets: expected two different targets A,B, got {args.targets!r}")
    for run, name in ((old, names[0]), (new, names[1])):
        if name not in {c.target for c in run.plan.cells}:
            raise UserError(f"--targets: run {run.meta.id} has no cells on {name}")
    return names[0], names[1]


def _relative_to(args, old, new) -> str | None:
    """The reference allocator of the comparison: --relative-to, else system
    when both runs have it and something else to compare; --absolute: none."""
    if args.absolute:
        if args.relative_to:
            raise UserError("give --absolute or --relative-to, not both")
        return None
    if args.relative_to:
        for run in (old, new):
            if args.relative_to not in run.plan.allocators:
                raise UserError(f"--relative-to {args.relative_to}: run {run.meta.id} did not run it")
        return args.relative_to
    common = set(old.plan.allocators) & set(new.plan.allocators)
    return DEFAULT_REFERENCE if DEFAULT_REFERENCE in common and len(common) > 1 else None


def _clock(run) -> str:
    steps = sorted(
        {u.counts.clock_step_ns or 0 for u in run.units.values() if u.counts and u.counts.tool == counting.TOOL}
    )
    return ", ".join("the real clock" if s == 0 else f"a virtual clock of {s} ns per read" for s in steps)


def _clock_warnings(old, new) -> list[str]:
    """Counts taken on different clocks (hab.execution.counting): time-paced
    allocator work differs between them."""
    a, b = _clock(old), _clock(new)
    if a == b:
        return []
    return [
        f"run A counted on {a or 'no clock'} and run B on {b or 'no clock'}: allocators that pace work by "
        "the clock (jemalloc's cache flushes) count differently (docs/metrics.md)"
    ]


def method(run, target: str) -> str | None:
    """What counted `target`'s instructions in `run`; None in a timed run."""
    if run.plan.metric != INSTRUCTIONS:
        return None
    info = run.meta.targets.get(target)
    return info.counter if info and info.counter else counting.TOOL  # before guests counted: Valgrind natively


def _methods(args, old, new, targets) -> tuple[str, str] | None:
    """How A's and B's compared cells were counted, as labels (counting
    metrics only); counts of different methods are refused without
    --across-methods."""
    if old.plan.metric != INSTRUCTIONS:
        return None
    if targets:
        pairs = [targets]
    else:
        common = {c.target for c in old.plan.cells} & {c.target for c in new.plan.cells}
        pairs = [(t, t) for t in sorted(common)]
    for a, b in pairs:
        ma, mb = method(old, a), method(new, b)
        if ma != mb and not args.across_methods:
            raise UserError(
                f"A's {a} cells were counted by {ma} and B's {b} cells by {mb}: different methods count "
                "different instructions (docs/metrics.md); --across-methods compares them anyway, labelled"
            )
    if len(pairs) == 1:
        return method(old, pairs[0][0]), method(new, pairs[0][1])
    return tuple(
        ", ".join(f"{method(run, p[side])} on {p[side]}" for p in pairs) for side, run in enumerate((old, new))
    )


def _refusals(args, old, new, old_path, new_path, targets) -> list[str]:
    """Comparisons that would mislead are errors; differences of machine are warnings."""
    if old.plan.metric != new.plan.metric:
        raise UserError(
            f"run {old.meta.id} measured {old.plan.metric} and run {new.meta.id} {new.plan.metric}: "
            "compare runs of one metric"
        )
    if old_path == new_path and targets is None:
        raise UserError(
            f"run {old.meta.id} compared with itself: give two runs, or --targets A,B for two targets of it"
        )
    for run in (old, new):
        if run.meta.status != RunStatus.COMPLETE and not args.allow_incomplete:
            raise UserError(
                f"run {run.meta.id} is {run.meta.status}: its missing processes would bias the "
                "comparison (--allow-incomplete compares it anyway)"
            )
    warnings = _clock_warnings(old, new) if old.plan.metric == INSTRUCTIONS else []
    a, b = old.meta.host, new.meta.host
    if a and b and (a.cpu_model, a.cores_usable) != (b.cpu_model, b.cores_usable):
        warnings.append(
            f"the runs are from different machines ({a.cpu_model}, {a.cores_usable} cores; "
            f"{b.cpu_model}, {b.cores_usable} cores): the change includes the machine's"
        )
    if a and b and a.allocator_setting() != b.allocator_setting():
        warnings.append(
            f"the runs differ in what changes allocators (A: {a.allocator_setting()}; B: {b.allocator_setting()}): "
            "the change includes theirs"
        )
    return warnings


def prepare(args):
    """The comparison the options ask for: (comparison, run A, run B, warnings)."""
    if args.threshold is not None and not 0 <= args.threshold < 1:  # also refuses NaN
        raise UserError("--threshold must be in [0, 1)")
    if args.confidence is not None and not 0.5 <= args.confidence < 1:
        raise UserError("--confidence must be in [0.5, 1)")
    old_path, new_path = _runs(args)
    old, new = runs.load(old_path), runs.load(new_path)
    targets = _targets(args, old, new)
    warnings = _refusals(args, old, new, old_path, new_path, targets) + skipped_warnings(old) + skipped_warnings(new)
    methods = _methods(args, old, new, targets)
    relative_to = _relative_to(args, old, new)
    old_result, new_result = analyse(old), analyse(new)
    for name, result in (("A", old_result), ("B", new_result)):
        if result.busy and result.busy.reasons:
            warnings.append(f"run {name} was measured on a busy machine ({'; '.join(result.busy.reasons)})")
    comp = comparison.compare(
        old_result,
        new_result,
        threshold=DEFAULT_THRESHOLD[new.plan.metric] if args.threshold is None else args.threshold,
        relative_to=relative_to,
        targets=targets,
        confidence=args.confidence,
        drift_guard=not args.no_drift_guard,
        methods=methods,
    )
    if not comp.cells:
        raise UserError(f"runs {old.meta.id} and {new.meta.id} have no (cell, allocator) in common")
    return comp, old, new, warnings


def main(args) -> int:
    comp, old, new, warnings = prepare(args)
    if args.json:
        text = comparison_table.render_json(comp, old.meta, new.meta)
    else:
        text = comparison_table.render(comp, old.meta, new.meta, width(), colour(args.color))
    sys.stdout.write(text)
    for warning in warnings:
        print(f"hab: warning: {warning}", file=sys.stderr)
    if args.html:
        write_comparison_report(comp, old.meta, new.meta, Path(args.html))
    fail_on = "regressed" if args.fail_on_regression and args.fail_on is None else args.fail_on
    if not fail_on:
        return 0
    unsure = comp.count({Verdict.INCONCLUSIVE}) if fail_on == "inconclusive" else 0
    return 1 if comp.slower or unsure else 0
