"""Reading a criterion output tree (`target/criterion` or `$CRITERION_HOME`).

Both formats are understood: criterion 0.3.3 and later (`estimates.json`
with lowercase keys, `sample.json` as `{"sampling_mode", "iters",
"times"}`) and older releases (capitalised estimate keys such as `Mean`
and `MedianAbsDev`, `sample.json` as `[[iters...], [times...]]`, sometimes
no `benchmark.json`).
"""

import json
from dataclasses import dataclass
from pathlib import Path

from hab.errors import UserError

_OLD_KEYS = {
    "Mean": "mean",
    "Median": "median",
    "MedianAbsDev": "median_abs_dev",
    "Slope": "slope",
    "StdDev": "std_dev",
}


@dataclass(frozen=True)
class Bench:
    """One benchmark's saved baseline."""

    directory: str  # relative to the tree root
    full_id: str
    group_id: str
    function_id: str | None
    value_str: str | None
    throughput: dict | None  # {"Elements": n} / {"Bytes": n} / ...
    linear: bool
    iters: tuple
    times: tuple
    estimates: dict  # criterion's own, lowercase keys


def _load(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"cannot read {path}: {e}") from None


def _sample(path: Path) -> tuple[bool | None, list, list]:
    data = _load(path)
    if isinstance(data, list) and len(data) == 2:
        iters, times = data
        mode = None
    elif isinstance(data, dict) and "iters" in data and "times" in data:
        iters, times = data["iters"], data["times"]
        mode = data.get("sampling_mode")
    else:
        raise UserError(f"{path}: not a criterion sample file")
    if len(iters) != len(times) or len(iters) < 2:
        raise UserError(f"{path}: needs as many times as iteration counts, at least two")
    if mode is None:  # before sampling modes, criterion always sampled linearly
        return True, iters, times
    return mode == "Linear", iters, times


def _estimates(path: Path) -> dict:
    if not path.is_file():
        return {}
    data = _load(path)
    return {_OLD_KEYS.get(k, k): v for k, v in data.items() if v is not None}


def read(root: Path, baseline: str = "new") -> list[Bench]:
    """Every benchmark under `root` that has a `<baseline>/sample.json`."""
    if not root.is_dir():
        raise UserError(f"no criterion tree at {root}")
    benches = []
    for sample in sorted(root.rglob(f"{baseline}/sample.json")):
        base_dir = sample.parent
        bench_dir = base_dir.parent
        rel = bench_dir.relative_to(root).as_posix()
        info = _load(base_dir / "benchmark.json") if (base_dir / "benchmark.json").is_file() else {}
        parts = rel.split("/")
        linear, iters, times = _sample(sample)
        benches.append(
            Bench(
                directory=rel,
                full_id=info.get("full_id", rel),
                group_id=info.get("group_id", parts[0]),
                function_id=info.get("function_id", parts[1] if len(parts) > 1 else None),
                value_str=info.get("value_str", "/".join(parts[2:]) or None),
                throughput=info.get("throughput"),
                linear=linear,
                iters=tuple(float(i) for i in iters),
                times=tuple(float(t) for t in times),
                estimates=_estimates(base_dir / "estimates.json"),
            )
        )
    if not benches:
        raise UserError(f"no criterion benchmarks under {root} (looked for */{baseline}/sample.json)")
    return benches
