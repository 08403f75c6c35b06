"""`hab run`: suite -> plan -> engine runs -> stored samples -> table."""

import secrets
import sys
import time
from dataclasses import asdict
from pathlib import Path

from rich.markup import escape

from hab import __version__, build, engine, hostinfo, paths, registry, store
from hab.analysis import DEFAULTS
from hab.commands.common import print_results, stderr_console
from hab.errors import UserError
from hab.execute import execute
from hab.plan import make_plan
from hab.protocol import PROTOCOL_VERSION
from hab.suite import available_cores, load_file, load_preset, narrow, parse_param_option, split_list


def _suite(args):
    if args.suite and args.preset:
        raise UserError("give a suite file or --preset, not both")
    suite = load_file(Path(args.suite)) if args.suite else load_preset(args.preset or "default")
    threads = None
    if args.threads:
        try:
            threads = [int(t) for t in split_list(args.threads, "--threads")]
        except ValueError:
            raise UserError(f"--threads: expected integers, got {args.threads!r}") from None
    return narrow(
        suite,
        allocators=split_list(args.allocators, "--allocators") if args.allocators else None,
        workloads=split_list(args.workloads, "--workloads") if args.workloads else None,
        params=[parse_param_option(p) for p in args.param],
        threads=threads,
        repetitions=args.repetitions,
        timeout=args.timeout,
        dry=False if args.no_dry else None,
        sample_size=args.sample_size,
        warm_up_time=args.warm_up_time,
        measurement_time=args.measurement_time,
        mode=args.sampling_mode,
    )


def _analysis_settings(args) -> dict:
    settings = dict(DEFAULTS)
    if args.nresamples is not None:
        if args.nresamples < 100:
            raise UserError("--nresamples must be at least 100")
        settings["nresamples"] = args.nresamples
    if args.confidence is not None:
        if not 0.5 <= args.confidence < 1:
            raise UserError("--confidence must be in [0.5, 1)")
        settings["confidence"] = args.confidence
    return settings


def _metadata(suite, plan, settings, eng, built, allocators, workloads) -> dict:
    """Everything run.json records besides the raw samples."""
    known = registry.load(eng)
    locked = registry.locked_versions(eng)
    used = {c.workload for c in plan.cells}
    return {
        "status": "running",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": sys.argv,
        "hab_version": __version__,
        "suite": asdict(suite),
        "plan": plan.to_dict(),
        "analysis": settings,
        "engine": {**hostinfo.git_revision(eng), "protocol": PROTOCOL_VERSION,
                   "build_seconds": round(built.seconds, 2), "compiled": built.compiled},
        "allocators": {a: {"kind": known[a].kind, "version": registry.version_of(known[a], locked),
                           "about": known[a].about} for a in allocators},
        "workloads": {w.name: {"about": w.about, "params": list(w.params)} for w in workloads.values() if w.name in used},
        "host": hostinfo.collect(),
    }


def main(args) -> int:
    console = stderr_console()
    suite = _suite(args)
    settings = _analysis_settings(args)
    eng = paths.engine_dir()
    known = registry.load(eng)
    allocators = registry.select(known, list(suite.allocators) if suite.allocators is not None else list(known))
    threads = list(suite.threads) if suite.threads is not None else [available_cores()]
    needed = allocators + ([registry.REFERENCE] if suite.dry and registry.REFERENCE not in allocators else [])
    built = build.build(eng, needed, console)
    probe = built.binaries[needed[0]]
    workloads = engine.describe(probe)
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    plan = make_plan(suite, allocators, threads, workloads, lambda spec: engine.check(probe, spec), seed)

    meta = _metadata(suite, plan, settings, eng, built, needed, workloads)
    run = store.RunDir.create(Path(args.out) if args.out else paths.RESULTS_ROOT, meta)
    console.print(f"[dim]run {escape(str(run.path))}: {len(plan.cells)} cells, {len(plan.units)} engine processes[/]")
    executed = execute(plan, built.binaries, run, console)
    run.meta["status"] = "interrupted" if executed.interrupted else "complete"
    run.meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    run.meta["suite_seconds"] = round(executed.seconds, 2)
    run.save()
    print_results(store.load(run.path), args.json)
    console.print(f"[dim]suite: {executed.done} engine processes in {executed.seconds:.1f} s"
                  f" ({executed.failed} failed); engine build {built.seconds:.1f} s; results in {escape(str(run.path))}[/]")
    if executed.interrupted:
        console.print(f"interrupted: the {executed.done} finished processes are stored; `hab show {run.path}` shows them",
                      markup=False)
        return 130
    return 1 if executed.failed else 0
