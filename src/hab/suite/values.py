"""Parameter values: reading them from TOML or the command line, and
showing them. Ranges are the engine's to check (`engine --check`); this
module only turns text into the type a parameter declares."""

import math
import re

from hab.errors import UserError
from hab.records.plan import ParamValue
from hab.records.workload import ParamInfo, WorkloadInfo

_SIZE = re.compile(r"^\s*(\d+)\s*(b|k|kib|m|mib|g|gib)?\s*$", re.IGNORECASE)
_UNIT = {"b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30}


def parse_size(text: str) -> int:
    """`65536`, `64KiB`, `64k`, `1MiB`, `2GiB` -> bytes (binary units)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"cannot read {text!r} as a size (bytes, or a KiB/MiB/GiB suffix)")
    number, unit = match.groups()
    return int(number) * _UNIT[(unit or "b").lower()]


def format_size(n: int) -> str:
    """Bytes in the largest binary unit that divides them exactly."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return str(n)


def coerce(param: ParamInfo, value, source: str):
    """`value` (from TOML or the CLI) as the type `param` declares; `source`
    names where the value came from, for the error message."""
    name, kind = param.name, param.kind
    try:
        if isinstance(value, bool):
            raise ValueError(f"expected a {kind}, got a boolean")
        if kind == "int":
            if isinstance(value, str):
                return int(value.replace("_", ""))
            if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
                return int(value)
            raise ValueError(f"expected an integer, got {value!r}")
        if kind == "size":
            if isinstance(value, str):
                return parse_size(value)
            if isinstance(value, int):
                return value
            raise ValueError(f"expected a size, got {value!r}")
        if kind == "float":
            if isinstance(value, (int, float, str)) and math.isfinite(number := float(value)):
                return number
            raise ValueError(f"expected a finite number, got {value!r}")
        if kind == "choice":
            if isinstance(value, str):
                return value
            raise ValueError(f"expected one of {', '.join(param.choices)}, got {value!r}")
    except ValueError as e:
        raise UserError(f"{source}: parameter {name}: {e}") from None
    raise UserError(f"{source}: parameter {name} has unknown kind {kind!r}")


def show(param: ParamInfo | None, value) -> str:
    """A parameter value for tables and headings."""
    if param is not None and param.kind == "size" and isinstance(value, int):
        return format_size(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def show_params(workload: WorkloadInfo | None, params: dict[str, ParamValue], sep: str = " ") -> str:
    """`name=value` pairs, each value shown in its parameter's unit."""
    return sep.join(f"{k}={show(workload.param(k) if workload else None, v)}" for k, v in params.items())
