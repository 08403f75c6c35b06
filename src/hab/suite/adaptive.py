"""Adaptive precision: after the planned processes, keep adding engine
processes to the (cell, allocator) pairs whose typical time is not yet known
to the target precision, round after round, while the time budget lasts.

The precision of a pair is the half-width of its confidence interval
relative to its typical time. Intervals narrow roughly with the square root
of the number of processes, so a pair at half-width h with R processes
needs about R (h / target)^2; each round at most doubles a pair's processes,
so that one noisy estimate cannot order a huge round. Only the budget
bounds the rounds; when it runs out first, `shortfall` says how many more
processes (and seconds) the target would take.
"""

import math
import random

from hab.records.plan import Plan, Unit

#: The budget of `--precision` without `--budget`, in seconds.
DEFAULT_BUDGET = 600.0
#: A pair above the target: (cell id, allocator, relative half-width, processes).
Imprecise = tuple[str, str, float, int]


MAX_BUDGET_S = 30 * 24 * 3600.0


def parse_precision(text: str) -> float:
    """`1%` or `0.01` -> 0.01."""
    value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if not 0 < value < 1:  # also refuses nan
        raise ValueError(f"precision must be between 0 and 100%, got {text}")
    return value


def parse_duration(text: str) -> float:
    """`90`, `90s`, `10m`, `1.5h` -> seconds."""
    factor = {"s": 1, "m": 60, "h": 3600}.get(text[-1:], None)
    value = float(text[:-1]) if factor else float(text)
    seconds = value * (factor or 1)
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_BUDGET_S:
        raise ValueError(f"expected a positive duration of at most 30 days, got {text}")
    return seconds


def _needed(h: float, processes: int, target: float) -> int:
    """Processes that bring half-width `h` at `processes` down to `target`."""
    return math.ceil(processes * (h / target) ** 2)


def shortfall(imprecise: list[Imprecise], target: float) -> int:
    """Engine processes still missing for every pair to meet the target."""
    return sum(max(_needed(h, n, target) - n, 1) for _, _, h, n in imprecise)


def next_round(
    plan: Plan,
    imprecise: list[Imprecise],
    target: float,
    seconds_per_unit: float,
    seconds_left: float,
    rng: random.Random,
) -> list[Unit]:
    """The units of the next round (shuffled within each cell) for the pairs
    above the target (see `RunResult.imprecise`); empty when none is, none
    can grow, or the budget is spent."""
    wanted: dict[str, list[str]] = {}
    for cell, allocator, h, processes in imprecise:
        extra = min(max(_needed(h, processes, target) - processes, 1), processes)
        wanted.setdefault(cell, []).extend([allocator] * extra)
    affordable = int(seconds_left // max(seconds_per_unit, 1e-3))
    next_rep = 1 + max((u.repetition for u in plan.units), default=-1)
    units: list[Unit] = []
    counts: dict[tuple, int] = {}
    for cell in (c.id for c in plan.cells if c.id in wanted):
        names = wanted[cell]
        rng.shuffle(names)
        for name in names:
            if len(units) >= affordable:
                return units
            k = counts.get((cell, name), 0)
            counts[(cell, name)] = k + 1
            units.append(Unit(cell, name, next_rep + k))
    return units
