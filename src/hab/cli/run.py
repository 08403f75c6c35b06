"""`hab run`: suite -> plan -> engine runs -> stored samples -> table."""

import math
import os
import random
import secrets
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from rich.markup import escape

from hab import __version__, paths
from hab.allocators import custom, lineup, preload, registry
from hab.analysis.run import analyse
from hab.build import engine, vclock
from hab.build import guests as guest_images
from hab.cli.common import print_results, write_run_report
from hab.cli.console import stderr_console
from hab.errors import StorageError, UserError
from hab.execution import counting, hostinfo, library, memlimit, query, targets, verification
from hab.execution.engines import Engines, native_env, uhyve_binary
from hab.execution.execute import Executed, execute
from hab.execution.protocol import PROTOCOL_VERSION
from hab.records.plan import INSTRUCTIONS, VARIANT_MARK, base_allocator
from hab.records.run import AllocatorInfo, AnalysisSettings, EngineInfo, Precision, RunMeta, RunStatus
from hab.records.target import HERMIT, KERNEL_TARGETS, NATIVE, UHYVE
from hab.store import ownership, runs
from hab.store.rundir import RunDir, new_id
from hab.suite import adaptive, values
from hab.suite.plan import make_plan
from hab.suite.suite import MAX_PHASE_S, Suite, load_file, load_preset, narrow, parse_param_option, split_list

#: Resamples for the interim looks of --precision (the final table uses the run's setting).
INTERIM_RESAMPLES = 20_000


@dataclass
class Prepared:
    """What a run needs besides its plan: allocators, built engines, workloads, targets."""

    suite: Suite
    known: dict
    allocators: list[str]  # as asked for
    rows: list[str]  # the plan's: the allocators, on kernel targets with several kernels ALLOCATOR@KERNEL
    needed: list[str]  # with the system binary the dry variant needs
    threads: list[int]
    built: engine.Build
    probe: Path  # the binary that answers --describe and --check
    workloads: dict
    targets: dict
    cap: memlimit.Cap | None
    settings: AnalysisSettings


def _suite(args):
    if args.suite and args.preset:
        raise UserError("give a suite file or --preset, not both")
    suite = load_file(Path(args.suite)) if args.suite else load_preset(args.preset or "default")
    threads = None
    if args.threads is not None:
        try:
            threads = [int(t) for t in split_list(args.threads, "--threads")]
        except ValueError:
            raise UserError(f"--threads: expected integers, got {args.threads!r}") from None
    return narrow(
        suite,
        allocators=split_list(args.allocators, "--allocators") if args.allocators is not None else None,
        workloads=split_list(args.workloads, "--workloads") if args.workloads is not None else None,
        params=[parse_param_option(p) for p in args.param],
        threads=threads,
        repetitions=args.repetitions,
        timeout=args.timeout,
        dry=False if args.no_dry else None,
        targets=split_list(args.target, "--target") if args.target is not None else None,
        guest={
            "memory": args.guest_memory,
            "vcpus": args.vcpus,
            "accel": args.accel,
            "hermit_kernels": args.hermit_kernel,
        },
        sample_size=args.sample_size,
        warm_up_time=args.warm_up_time,
        measurement_time=args.measurement_time,
        mode=args.sampling_mode,
    )


def _knob(option_name: str, options: list[str], allocators: list[str], parse, what: str) -> dict:
    """`--spin`-like `ALLOC=VALUE` options -> {allocator: parse(value)}; parse
    raises ValueError for a value out of range."""
    out = {}
    for option in options:
        name, sep, value = option.partition("=")
        if not sep or name not in allocators:
            raise UserError(f"{option_name}: expected ALLOCATOR={what} for an allocator of this run, got {option!r}")
        try:
            out[name] = parse(value)
        except ValueError:
            raise UserError(f"{option_name} {name}: expected {what} in [0, 1e9], got {value!r}") from None
    return out


def _ns(text: str) -> float:
    ns = float(text.removesuffix("ns"))
    if not 0 <= ns <= 1e9:  # also refuses NaN
        raise ValueError(text)
    return ns


def _turns(text: str) -> int:
    turns = int(text)
    if not 0 <= turns <= 1_000_000_000:
        raise ValueError(text)
    return turns


def _countable(chosen, args, suite, console) -> list[str]:
    """The chosen allocators that can run under the metric: with --metric
    instructions, those that cannot run under Valgrind are refused when
    named, else left out with a note."""
    if args.metric != INSTRUCTIONS or NATIVE not in suite.targets:
        return chosen.names
    out = []
    for name in chosen.names:
        why = chosen.known[name].uncounted
        if why is None:
            out.append(name)
        elif suite.allocators is not None:
            raise UserError(f"{name} cannot run under Valgrind (--metric instructions): {why}")
        else:
            console.print(f"[dim]skipping {escape(name)} (cannot run under Valgrind): {escape(why)}[/]")
    return out


def _check_metric(args, suite) -> None:
    """What --metric instructions cannot be combined with."""
    if args.metric != INSTRUCTIONS:
        if args.cache_sim:
            raise UserError("--cache-sim only applies with --metric instructions")
        return
    if UHYVE in suite.targets:
        raise UserError("--metric instructions: uhyve runs guests under KVM, which counts nothing; use --target hermit")
    if suite.guest.accel == "kvm" and any(t != NATIVE for t in suite.targets):
        raise UserError(
            "--metric instructions counts guest instructions with QEMU's icount, under TCG: not with --accel kvm"
        )
    if args.cache_sim and any(t != NATIVE for t in suite.targets):
        raise UserError("--cache-sim simulates caches under Valgrind, natively: not in guests")
    if args.latency is not None:
        raise UserError("--latency times single calls: not with --metric instructions")
    if NATIVE not in suite.targets:
        return
    if args.spin:
        raise UserError(
            "--spin is calibrated in time, which Valgrind slows down unevenly: "
            "give --spin-turns with --metric instructions"
        )
    counting.valgrind_binary()


def _cap(text: str | None) -> memlimit.Cap | None:
    if text is None:
        return None
    try:
        limit = values.parse_size(text)
    except ValueError as e:
        raise UserError(f"--max-rss: {e}") from None
    if limit < 16 << 20:
        raise UserError("--max-rss: at least 16MiB (the engine alone needs a few MiB)")
    return memlimit.make_cap(limit)


def _analysis_settings(args) -> AnalysisSettings:
    settings = AnalysisSettings()
    if args.nresamples is not None:
        if args.nresamples < 100:
            raise UserError("--nresamples must be at least 100")
        settings = replace(settings, nresamples=args.nresamples)
    if args.confidence is not None:
        if not 0.5 <= args.confidence < 1:
            raise UserError("--confidence must be in [0.5, 1)")
        settings = replace(settings, confidence=args.confidence)
    return settings


def _describe(a: registry.Allocator, locked: dict, built: engine.Build, facts: library.CargoFacts) -> AllocatorInfo:
    """What run.json says of one allocator: kind, version (or revision), where
    it came from, its native operations, and its library's own account."""
    if a.kind == "preload":
        version = preload.version(a) if a.origin == "built-in" else str(built.preloads[a.name])
    else:
        version = built.revisions.get(a.name) or registry.version_of(a, locked)
    so = built.preloads.get(a.name)
    lib = library.describe(a, built.binaries.get(a.name), native_env(so, False), facts)
    return AllocatorInfo(a.kind, version, a.about, a.origin, a.native, lib)


def _metadata(root, ready: Prepared, plan) -> RunMeta:
    """Everything run.json records besides the raw samples."""
    eng = paths.engine_dir()
    locked = registry.locked_versions(eng)
    facts = library.cargo_facts(eng, ready.built.scripts)
    used = {c.workload for c in plan.cells}
    return RunMeta(
        id=new_id(root),
        status=RunStatus.RUNNING,
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        argv=sys.argv,
        hab_version=__version__,
        suite=asdict(ready.suite),
        plan=plan,
        analysis=ready.settings,
        engine=EngineInfo(
            **hostinfo.git_revision(eng),
            protocol=PROTOCOL_VERSION,
            build_seconds=round(ready.built.seconds, 2),
            compiled=ready.built.compiled,
        ),
        allocators={a: _describe(ready.known[a], locked, ready.built, facts) for a in ready.needed},
        max_rss=ready.cap.record() if ready.cap else None,
        workloads={name: w for name, w in ready.workloads.items() if name in used},
        host=hostinfo.collect(),
        targets=ready.targets,
        owner=ownership.current(),
        cwd=os.getcwd(),
    )


def _refine(args, plan, engines, run, console, executed, started: float, skip):
    """Adds rounds of engine processes until every pair meets --precision or
    --budget (wall time since `started`) is spent; records the rounds, and
    when the budget ran out first, what budget would have reached the target."""
    target = adaptive.parse_precision(args.precision)
    budget = adaptive.parse_duration(args.budget) if args.budget else adaptive.DEFAULT_BUDGET
    rng = random.Random(plan.order_seed)
    rounds = list(run.meta.precision.rounds) if run.meta.precision else []  # earlier attempts' rounds
    while True:
        imprecise = analyse(runs.load(run.path), nresamples=INTERIM_RESAMPLES).imprecise(target)
        per_unit = executed.seconds / max(executed.done, 1)
        elapsed = time.monotonic() - started
        units = adaptive.next_round(plan, imprecise, target, per_unit, budget - elapsed, rng)
        if not units:
            break
        console.print(
            f"[dim]precision round {len(rounds) + 1}: {len(units)} more engine processes for "
            f"{len(imprecise)} pairs above ±{target * 100:g}%[/]"
        )
        plan = plan.extended(units)
        rounds.append(len(units))
        run.meta.plan = plan
        run.meta.precision = Precision(target, budget, tuple(rounds))
        run.save()
        executed = executed.then(execute(plan, engines, run.keep_unit, console, units, skip))
        if executed.interrupted:
            return executed
    needed = None
    if imprecise:
        more = adaptive.shortfall(imprecise, target)
        needed = elapsed + more * per_unit
        console.print(
            f"[yellow]{len(imprecise)} pairs still above ±{target * 100:g}% when the {budget:g} s budget ran out: "
            f"about {more} more engine processes of {per_unit:.1f} s; --budget {math.ceil(needed)}s would reach it[/]"
        )
    run.meta.precision = Precision(target, budget, tuple(rounds), len(imprecise), needed)
    return executed


def _rows(allocators: list[str], suite) -> list[str]:
    """The rows of the run: `allocators`, and where kernel targets run
    several Hermit kernels, each allocator on each kernel (ALLOCATOR@KERNEL)."""
    kernel_rows = guest_images.rows(allocators, suite.guest.hermit_kernels)
    plain = allocators if any(t not in KERNEL_TARGETS for t in suite.targets) else []
    variants = kernel_rows if any(t in KERNEL_TARGETS for t in suite.targets) else []
    return list(dict.fromkeys([*plain, *variants]))


def _check_targets(suite, args) -> None:
    """Refusals that need no build: latency mode in Hermit, uhyve without
    KVM, Hermit kernels without a Hermit target."""
    if suite.guest.hermit_kernels and not any(t in KERNEL_TARGETS for t in suite.targets):
        raise UserError("--hermit-kernel: no hermit (or uhyve) target in this run (--target hermit)")
    if args.latency is not None and HERMIT in suite.targets:
        raise UserError(
            "--latency cannot run in hermit: Hermit's clock ticks in whole microseconds, "
            "coarser than one allocator call"
        )
    if UHYVE in suite.targets:
        uhyve_binary()


def _check_options(args) -> None:
    """Option checks that need neither a build nor a suite."""
    if args.save_baseline is not None:
        runs.baseline_path(paths.RESULTS_ROOT, args.save_baseline)  # checks the name before running
    try:
        if args.precision:
            adaptive.parse_precision(args.precision)
        if args.budget:
            adaptive.parse_duration(args.budget)
    except ValueError as e:
        raise UserError(f"--precision/--budget: {e}") from None
    if args.budget and not args.precision:
        raise UserError("--budget only applies with --precision")
    if args.latency is not None and not 1 <= args.latency <= 1_000_000:
        raise UserError("--latency: EVERY must be in 1..1000000")
    if not (args.rss_interval == 0 or 0.001 <= args.rss_interval <= MAX_PHASE_S):
        raise UserError(f"--rss-interval: 0 (off) or seconds in [0.001, {MAX_PHASE_S:g}], got {args.rss_interval:g}")


def prepare(args, console) -> Prepared:
    """From options to built engines: suite, allocators, targets, builds."""
    suite = _suite(args)
    _check_options(args)
    cap = _cap(args.max_rss)
    settings = _analysis_settings(args)
    eng = paths.engine_dir()
    defined = list(suite.defined) + custom.from_options(
        args.crate,
        args.init,
        args.global_type,
        args.setup,
        split_list(args.features, "--features") if args.features is not None else None,
        args.name,
        args.preload,
    )
    chosen = lineup.choose(eng, defined, list(suite.allocators) if suite.allocators is not None else None)
    for name, why in chosen.skipped.items():
        console.print(f"[dim]skipping {escape(name)}: {escape(why)}[/]")
    allocators = _countable(chosen, args, suite, console)
    rows = _rows(allocators, suite)
    if args.reference and args.reference not in rows:
        raise UserError(f"--reference {args.reference}: not one of the allocators to run ({', '.join(rows)})")
    _check_metric(args, suite)
    _check_targets(suite, args)
    per_target, notes = lineup.by_target(chosen.known, allocators, suite.targets)
    for note in notes:
        console.print(f"[dim]{escape(note)}[/]")
    threads = list(suite.threads) if suite.threads is not None else [hostinfo.available_cores()]
    with_dry = {
        t: names + ([registry.SYSTEM] if suite.dry and registry.SYSTEM not in names else [])
        for t, names in per_target.items()
    }
    native = with_dry.pop(NATIVE, [])
    # The system binary answers --describe and --check: a broken allocator under test must not.
    native += [registry.SYSTEM] if registry.SYSTEM not in native else []
    built = engine.build(eng, native, console, chosen.known, guests=with_dry, kernels=suite.guest.hermit_kernels)
    probe = built.binaries[registry.SYSTEM]
    needed = allocators + ([registry.SYSTEM] if suite.dry and registry.SYSTEM not in allocators else [])
    return Prepared(
        suite,
        chosen.known,
        allocators,
        rows,
        needed,
        threads,
        built,
        probe,
        query.describe(probe),
        targets.describe(suite.targets, suite.guest, built, console, args.metric == INSTRUCTIONS),
        cap,
        settings,
    )


def main(args) -> int:
    if args.resume is not None:
        from hab.cli import resume

        return resume.main(args)
    console = stderr_console()
    ready = prepare(args, console)
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    several = len(ready.suite.guest.hermit_kernels) > 1

    def runs_on(target: str, row: str) -> bool:
        if ready.known[base_allocator(row)].unavailable_on(target) is not None:
            return False
        return (VARIANT_MARK in row) == (several and target in KERNEL_TARGETS)

    plan = make_plan(
        ready.suite,
        ready.rows,
        ready.threads,
        ready.workloads,
        lambda spec: query.check(ready.probe, spec),
        seed,
        _knob("--spin", args.spin, ready.allocators, _ns, "NS"),
        args.latency,
        args.rss_interval or None,
        runs_on,
        _knob("--spin-turns", args.spin_turns, ready.allocators, _turns, "TURNS"),
    )
    plan = replace(plan, metric=args.metric, cache_sim=args.cache_sim)
    root = Path(args.out) if args.out else paths.RESULTS_ROOT
    meta = _metadata(root, ready, plan)
    run = RunDir.create(root, meta)
    console.print(f"[dim]run {escape(str(run.path))}: {len(plan.cells)} cells, {len(plan.units)} engine processes[/]")
    return conduct(args, ready, run, console, list(plan.units), Executed(0, 0, 0.0, False))


def conduct(args, ready: Prepared, run: RunDir, console, todo: list, before: Executed) -> int:
    """Runs `todo` (and --verify first, --precision rounds after) into `run`,
    then marks it complete or interrupted and prints the results. `before`
    counts what earlier attempts of the run did (when resumed)."""
    plan = run.meta.plan
    counter = None
    if plan.metric == INSTRUCTIONS and any(c.target == NATIVE for c in plan.cells):
        clock = vclock.build(paths.engine_dir(), console)
        counter = counting.Counter(counting.valgrind_binary(), clock, plan.cache_sim)
    engines = Engines(ready.built, ready.targets, ready.cap, plan.rss_interval, counter=counter)
    started = time.monotonic() - before.seconds
    skip: dict | None = {}
    executed = before
    try:
        if args.verify and run.meta.verify is None:
            try:
                run.meta.verify = verification.verify(plan, engines, run.keep_verify, console)
                run.save()
            except KeyboardInterrupt:
                skip = None
        if args.verify and skip is not None:
            skip = verification.not_timed(run.meta.verify)
        if skip is None:
            executed = replace(before, interrupted=True)
        else:
            executed = before.then(execute(plan, engines, run.keep_unit, console, todo, skip))
        if args.precision and not executed.interrupted:
            executed = _refine(args, plan, engines, run, console, executed, started, skip)
    except StorageError as e:
        executed = replace(executed, interrupted=True, problem=str(e))
    finally:
        engines.close()
    return _finish(args, ready, run, console, executed)


def _finish(args, ready: Prepared, run: RunDir, console, executed: Executed) -> int:
    """Marks the run complete or interrupted, prints its results, says how it ended."""
    run.meta.status = RunStatus.INTERRUPTED if executed.interrupted else RunStatus.COMPLETE
    run.meta.finished = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    run.meta.suite_seconds = round(executed.seconds, 2)
    resume = f"`hab run --resume {run.path}` finishes the run"
    try:
        run.save()
    except StorageError as e:
        raise StorageError(
            f"{executed.problem or e}; {executed.done} finished processes are stored; {resume}"
        ) from None
    stored = runs.load(run.path)
    shown = print_results(stored, args.json, args.reference, colour_choice=args.color)
    try:
        write_run_report(stored, shown.result, before=shown.before)
    except StorageError as e:
        console.print(f"hab: warning: no HTML report: {e}", markup=False)
    if args.save_baseline is not None and not executed.interrupted:
        saved = runs.save_baseline(run.path, run.path.parent, args.save_baseline)
        console.print(f"[dim]saved as baseline {escape(args.save_baseline)} ({escape(str(saved))})[/]")
    console.print(
        f"[dim]suite: {executed.done} engine processes in {executed.seconds:.1f} s"
        f" ({executed.failed} failed); engine build {ready.built.seconds:.1f} s; results in {escape(str(run.path))}[/]"
    )
    if executed.problem:
        raise StorageError(
            f"{executed.problem}; {executed.done} finished processes are stored; once there is room, {resume}"
        )
    if executed.interrupted:
        console.print(
            f"interrupted: the {executed.done} finished processes are stored; "
            f"{resume}, `hab show {run.path}` shows what it has",
            markup=False,
        )
        return 130
    return 1 if executed.failed else 0
