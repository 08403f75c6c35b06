"""The origin crate's criterion driver names its benchmarks
`rayon_boxes/max_size={64KiB|1MiB}/{allocator}/steady,keep_max={k},iters={i}`
(group, then id; see docs/workloads.md). A tree named so is imported with
those parameters recovered into `rayon_boxes` cells, so that it lines up
with `hab run --preset seed`; the thread count is not in the names and has
to be given (its tasks are twice its threads, as in the seed)."""

import re

from hab.suite import values

_NAME = re.compile(
    r"^rayon_boxes/max_size=(?P<size>[0-9]+(?:B|KiB|MiB|GiB)?)/(?P<allocator>[a-z][a-z0-9_]*)"
    r"/steady,keep_max=(?P<keep>[0-9]+),iters=(?P<iters>[0-9]+)$"
)
#: keep_prob of every benchmark of the origin's criterion driver.
KEEP_PROB = 0.01


def recover(full_id: str, threads: int) -> tuple[str, dict] | None:
    """(allocator, rayon_boxes parameters) from a benchmark's full id, or None
    when it is not named the origin's way."""
    m = _NAME.match(full_id)
    if m is None:
        return None
    params = {
        "init": "zero",
        "iters_per_task": int(m["iters"]),
        "keep_max": int(m["keep"]),
        "keep_prob": KEEP_PROB,
        "max_size": values.parse_size(m["size"]),
        "tasks": 2 * threads,
    }
    return m["allocator"], params


def named_so(full_ids: list[str]) -> bool:
    """Whether every benchmark is named the origin's way."""
    return bool(full_ids) and all(_NAME.match(i) for i in full_ids)
