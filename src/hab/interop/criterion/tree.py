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
from hab.records import fields as f

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
        return json.loads(path.read_bytes().decode())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None


def _sample(path: Path) -> tuple[bool, tuple, tuple]:
    """Whether the samples are linear, their iteration counts and times (ns),
    each finite and above zero."""
    data = _load(path)
    if isinstance(data, list) and len(data) == 2:
        iters, times = data
        mode = None
    elif isinstance(data, dict) and "iters" in data and "times" in data:
        iters, times = data["iters"], data["times"]
        mode = data.get("sampling_mode")
    else:
        raise UserError(f"{path}: not a criterion sample file")
    try:
        iters, times = f.positives(iters, "iters"), f.positives(times, "times")
    except f.RecordError as e:
        raise UserError(f"{path}: {e}") from None
    if len(iters) != len(times) or len(iters) < 2:
        raise UserError(f"{path}: needs as many times as iteration counts, at least two")
    # Before sampling modes, criterion always sampled linearly.
    return mode is None or mode == "Linear", tuple(map(float, iters)), tuple(map(float, times))


def _estimates(path: Path) -> dict:
    if not path.is_file():
        return {}
    data = _load(path)
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a criterion estimates file")
    return {_OLD_KEYS.get(k, k): v for k, v in data.items() if isinstance(v, dict)}


def _info(path: Path) -> dict:
    """benchmark.json's ids and throughput, checked."""
    if not path.is_file():
        return {}
    data = _load(path)
    try:
        f.table(data, "benchmark.json")
        for key in ("full_id", "group_id", "function_id", "value_str"):
            f.optional_text(data.get(key), key)
        throughput = f.optional_table(data.get("throughput"), "throughput")
        for kind, count in (throughput or {}).items():
            f.positive(count, f"throughput.{kind}")
    except f.RecordError as e:
        raise UserError(f"{path}: {e}") from None
    return data


def read(root: Path, baseline: str = "new") -> list[Bench]:
    """Every benchmark under `root` that has a `<baseline>/sample.json`."""
    if not root.is_dir():
        raise UserError(f"no criterion tree at {root}")
    benches = []
    for sample in sorted(root.rglob(f"{baseline}/sample.json")):
        base_dir = sample.parent
        bench_dir = base_dir.parent
        rel = bench_dir.relative_to(root).as_posix()
        info = _info(base_dir / "benchmark.json")
        parts = rel.split("/")
        linear, iters, times = _sample(sample)
        benches.append(
            Bench(
                directory=rel,
                full_id=info.get("full_id") or rel,
                group_id=info.get("group_id") or parts[0],
                function_id=info.get("function_id", parts[1] if len(parts) > 1 else None),
                value_str=info.get("value_str", "/".join(parts[2:]) or None),
                throughput=info.get("throughput") or None,
                linear=linear,
                iters=iters,
                times=times,
                estimates=_estimates(base_dir / "estimates.json"),
            )
        )
    if not benches:
        raise UserError(f"no criterion benchmarks under {root} (looked for */{baseline}/sample.json)")
    return benches
