"""A run's allocators: the built-in registry plus those the user defines,
narrowed to what the suite or command line asks for and to what can run
here.

Without an allocator list every built-in that is available runs (a
preload allocator whose shared object is missing is skipped, with the
reason), plus every user-defined one. A list names exactly what runs,
except that user-defined allocators it does not mention are added: defining
one is asking to run it. A listed allocator that cannot run is an error.
"""

from dataclasses import dataclass
from pathlib import Path

from hab.allocators import preload, registry
from hab.allocators.registry import Allocator
from hab.errors import UserError


@dataclass(frozen=True)
class Lineup:
    known: dict  # name -> Allocator: built-in and user-defined
    names: list  # what runs, in order
    skipped: dict  # built-in name -> why it cannot run here


def unavailable(a: Allocator) -> str | None:
    return preload.unavailable(a) if a.kind == "preload" else None


def choose(engine: Path, defined: list[Allocator], wanted: list[str] | None) -> Lineup:
    known = dict(registry.load(engine))
    for a in defined:
        if a.name in known:
            where = known[a.name].origin
            raise UserError(f"{a.origin}: allocator name {a.name} is taken ({where})")
        known[a.name] = a
    mine = [a.name for a in defined]
    skipped = {}
    if wanted is None:
        names = []
        for name, a in known.items():
            reason = unavailable(a)
            if reason:
                skipped[name] = reason
            else:
                names.append(name)
        return Lineup(known, names, skipped)
    names = registry.select(known, wanted)
    if not set(mine) & set(names):
        names += mine
    for name in names:
        reason = unavailable(known[name])
        if reason:
            raise UserError(f"allocator {name} is not available here: {reason}")
    return Lineup(known, names, skipped)


def by_target(known: dict[str, Allocator], names: list[str], targets: tuple[str, ...]) -> tuple[dict, list[str]]:
    """Which of `names` run on each target, and a note for each pair that
    cannot (`jemalloc: not on hermit: ...`). An allocator that runs on none
    of the targets is an error."""
    per_target = {t: [n for n in names if known[n].unavailable_on(t) is None] for t in targets}
    notes = [f"{n}: not on {t}: {known[n].unavailable_on(t)}" for t in targets for n in names if n not in per_target[t]]
    nowhere = [n for n in names if not any(n in per_target[t] for t in targets)]
    if nowhere:
        raise UserError(
            f"allocator {nowhere[0]} runs on none of the targets {', '.join(targets)}: "
            f"{known[nowhere[0]].unavailable_on(targets[0])}"
        )
    return per_target, notes
