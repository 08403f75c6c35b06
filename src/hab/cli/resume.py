"""`hab run --resume [RUN]`: finishes a run that was interrupted (Ctrl-C, a
full disk) or abandoned (its `hab` died): the engine processes of its
stored plan that have no stored result run now, with the run's own
options, into the same run directory."""

import os

from rich.markup import escape

from hab import paths
from hab.cli import run as fresh
from hab.cli.console import stderr_console
from hab.cli.parser import parser
from hab.errors import UserError
from hab.execution import hostinfo
from hab.execution.execute import Executed
from hab.records.run import RunStatus
from hab.store import ownership, runs
from hab.store.rundir import RunDir

#: Options that may come with --resume; every other one is the stored run's.
_OWN = {"resume", "out", "json", "command"}


def _given(args) -> list[str]:
    """Options given besides --resume that would change the run."""
    defaults = vars(parser().parse_args(["run"]))
    return [k for k, v in vars(args).items() if k not in _OWN and v != defaults.get(k)]


def _stored_args(meta, args):
    """The run's own options, parsed again in the directory it was started from."""
    if not meta.argv or meta.cwd is None:
        raise UserError(f"run {meta.id} was written by a hab that could not resume runs; start it again")
    if not os.path.isdir(meta.cwd):
        raise UserError(f"run {meta.id} was started in {meta.cwd}, which no longer exists")
    stored = parser().parse_args(meta.argv[1:])
    if stored.command != "run":
        raise UserError(f"run {meta.id} was not made by `hab run`")
    stored.json = args.json
    return stored


def _check_engine(meta, console) -> None:
    """The processes still to run must come from the engine the others came from."""
    now = hostinfo.git_revision(paths.engine_dir())
    then = meta.engine
    if then and then.commit and now["commit"] and then.commit != now["commit"]:
        raise UserError(
            f"the engine's sources changed since run {meta.id} began (commit {then.commit[:10]}, now "
            f"{now['commit'][:10]}): its processes would mix two engines; start a new run"
        )
    if now["dirty"] or (then and then.dirty):
        console.print("[dim]the engine sources have local changes: hab cannot tell whether they changed meanwhile[/]")


def main(args) -> int:
    given = _given(args)
    if given:
        names = ", ".join("--" + k.replace("_", "-") for k in given)
        raise UserError(f"--resume runs with the stored run's own options; drop {names}")
    console = stderr_console()
    root = paths.RESULTS_ROOT if args.out is None else args.out
    path = runs.resolve(args.resume or None, root)
    stored_run = runs.load(path)  # damaged units are left out, and run again
    meta, done = stored_run.meta, stored_run.units
    if meta.source is not None:
        raise UserError(f"run {meta.id} was imported, not run: there is nothing to resume")
    if meta.status is RunStatus.COMPLETE:
        raise UserError(f"run {meta.id} is complete: there is nothing to resume")
    if meta.status is RunStatus.RUNNING:
        pid = meta.owner.pid if meta.owner else "?"
        raise UserError(f"run {meta.id} is still running (hab process {pid})")
    stored = _stored_args(meta, args)
    os.chdir(meta.cwd)  # relative paths among the stored options (suite, crates) mean what they meant
    _check_engine(meta, console)
    ready = fresh.prepare(stored, console)
    missing = set(meta.plan.allocators) - set(ready.rows) - set(ready.needed)
    if missing:
        raise UserError(f"run {meta.id} ran {', '.join(sorted(missing))}, which this machine cannot build now")
    todo = [u for u in meta.plan.units if u.id not in done]
    meta.status, meta.owner, meta.finished = RunStatus.RUNNING, ownership.current(), None
    meta.resumed += 1
    run = RunDir(path, meta)
    run.save()
    console.print(
        f"[dim]resuming run {escape(str(path))}: {len(done)} of {len(meta.plan.units)} engine processes stored, "
        f"{len(todo)} to run[/]"
    )
    before = Executed(len(done), sum(not u.ok for u in done.values()), sum(u.seconds for u in done.values()), False)
    return fresh.conduct(stored, ready, run, console, todo, before)
