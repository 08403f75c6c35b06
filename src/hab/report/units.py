"""Human-readable numbers with units, for tables."""

from hab.records.plan import TIME


def _sig(value: float, digits: int = 4) -> str:
    """`value` with about `digits` significant digits, never in exponent form."""
    if value == 0:
        return "0"
    magnitude = len(str(int(abs(value)))) if abs(value) >= 1 else 1
    decimals = max(0, digits - magnitude)
    return f"{value:.{decimals}f}"


_TIME = ((1e9, "s"), (1e6, "ms"), (1e3, "µs"), (1.0, "ns"))
_COUNT = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""))


def _unit(value: float, units: tuple) -> tuple[float, str]:
    """The largest (scale, name) of `units` that `value` reaches, else the smallest."""
    return next(((scale, name) for scale, name in units if abs(value) >= scale), units[-1])


def time_unit(ns: float) -> tuple[float, str]:
    """The scale and name of the unit to show `ns` in."""
    return _unit(ns, _TIME)


def duration(ns: float) -> str:
    scale, name = time_unit(ns)
    if scale == 1.0 and float(ns).is_integer():
        return f"{int(ns)} ns"  # whole nanoseconds (clock ticks, histogram buckets) without false decimals
    return f"{_sig(ns / scale)} {name}"


def interval(lower: float, upper: float, like: float) -> str:
    """An interval in the unit chosen for `like` (the point estimate)."""
    scale, _ = time_unit(like)
    return f"{_sig(lower / scale)}–{_sig(upper / scale)}"


def count_unit(n: float) -> tuple[float, str]:
    """The scale and SI prefix to show a count `n` with."""
    return _unit(n, _COUNT)


def count(n: float, unit: str = "instr") -> str:
    scale, prefix = count_unit(n)
    return f"{_sig(n / scale, 5)} {prefix}{unit}"


def measure(value: float, metric: str) -> str:
    """A typical value in its metric's unit: a duration, or an instruction count."""
    return duration(value) if metric == TIME else count(value)


def measure_interval(lower: float, upper: float, like: float, metric: str) -> str:
    """An interval in the unit chosen for `like`, in `metric`."""
    if metric == TIME:
        return interval(lower, upper, like)
    scale, _ = count_unit(like)
    return f"{_sig(lower / scale, 5)}–{_sig(upper / scale, 5)}"


def ratio(x: float) -> str:
    return f"{x:.3f}×"


def ratio_interval(lower: float, upper: float) -> str:
    return f"{lower:.3f}–{upper:.3f}"


def rate(per_second: float, unit: str) -> str:
    scale, prefix = count_unit(per_second)
    return f"{_sig(per_second / scale, 3)} {prefix}{unit}/s"


def byte_rate(per_second: float) -> str:
    for scale, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if per_second >= scale:
            return f"{_sig(per_second / scale, 3)} {name}/s"
    return f"{_sig(per_second, 3)} B/s"


def kib(n: float | None) -> str:
    if n is None:
        return "–"
    if n >= 1 << 20:
        return f"{_sig(n / (1 << 20), 3)} GiB"
    if n >= 1 << 10:
        return f"{_sig(n / (1 << 10), 3)} MiB"
    return f"{_sig(n, 3)} KiB"


def percent(x: float) -> str:
    return f"{x * 100:.1f}%"
