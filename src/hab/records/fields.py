"""Checked reading of stored JSON values: each helper checks one value's
type and range and names where it sits when it does not fit."""

import math
from typing import Any


class RecordError(ValueError):
    """A stored value that does not fit its record; the message names where."""


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def table(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise RecordError(f"{where}: expected an object, got {_kind(value)}")
    return value


def optional_table(value: Any, where: str) -> dict | None:
    return None if value is None else table(value, where)


def text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f"{where}: expected a string, got {_kind(value)}")
    return value


def optional_text(value: Any, where: str) -> str | None:
    return None if value is None else text(value, where)


def flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise RecordError(f"{where}: expected true or false, got {_kind(value)}")
    return value


def integer(value: Any, where: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"{where}: expected an integer, got {_kind(value)}")
    if minimum is not None and value < minimum:
        raise RecordError(f"{where}: expected an integer >= {minimum}, got {value}")
    return value


def optional_integer(value: Any, where: str, minimum: int | None = None) -> int | None:
    return None if value is None else integer(value, where, minimum)


def number(value: Any, where: str, minimum: float | None = None) -> int | float:
    """A finite number, kept as an integer if it is one (NaN and infinity,
    which JSON readers accept, are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(f"{where}: expected a number, got {_kind(value)}")
    if not math.isfinite(value):
        raise RecordError(f"{where}: expected a finite number, got {value}")
    if minimum is not None and value < minimum:
        raise RecordError(f"{where}: expected a number >= {minimum:g}, got {value:g}")
    return value


def positive(value: Any, where: str) -> int | float:
    """A finite number above zero."""
    value = number(value, where)
    if value <= 0:
        raise RecordError(f"{where}: expected a number > 0, got {value:g}")
    return value


def optional_number(value: Any, where: str, minimum: float | None = None) -> int | float | None:
    return None if value is None else number(value, where, minimum)


def items(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise RecordError(f"{where}: expected a list, got {_kind(value)}")
    return value


def numbers(value: Any, where: str, minimum: float | None = None) -> tuple[int | float, ...]:
    return tuple(number(v, f"{where}[{i}]", minimum) for i, v in enumerate(items(value, where)))


def positives(value: Any, where: str) -> tuple[int | float, ...]:
    return tuple(positive(v, f"{where}[{i}]") for i, v in enumerate(items(value, where)))


def texts(value: Any, where: str) -> tuple[str, ...]:
    return tuple(text(v, f"{where}[{i}]") for i, v in enumerate(items(value, where)))
