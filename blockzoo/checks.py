"""Validation at the edge: typed settings objects that refuse bad values with one clear line.

A settings class is a frozen dataclass deriving from `Settings`. Each field's annotation gives its
type (int, float, bool, str, a Literal of choices, or any of them | None) and its metadata an
optional `check`, e.g. ``epochs: int = field(default=50, metadata=between(1, 1000, "epochs of one run"))``.
Building one, from Python or from a dict of user settings (`from_dict`), validates every field; errors name the
field as `<section>.<field>` (the params.yaml key) and say what to do. An integer's range is a `Range` in its
field's metadata, the one place it is written: the commands' options take it from there (blockzoo.cli.bounded).
No torch here.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from blockzoo.errors import BlockzooError

Check = Callable[[Any], "str | None"]  # None when the value is fine, else what it must be


def closest_hint(name: str, valid: Iterable[str], prefix: str = "") -> str:
    """"did you mean 'X'?" for a misspelled name (X with `prefix`), else the list of valid names."""
    valid = sorted(valid)
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    return f"did you mean '{prefix}{close[0]}'?" if close else f"valid: {', '.join(valid)}"


def check_known_keys(mapping: Mapping[str, Any], valid: Iterable[str], where: str) -> None:
    """A one-line error for the first key of `mapping` that is not in `valid` (`where`: the keys' prefix)."""
    valid = set(valid)
    for key in mapping:
        if key not in valid:
            raise BlockzooError(f"unknown setting '{where}{key}'; {closest_hint(str(key), valid, where)}")


def positive(value) -> str | None:
    return None if value is None or value >= 1 else "must be a positive integer"


def non_negative(value) -> str | None:
    return None if value is None or value >= 0 else "must be >= 0"


def positive_number(value) -> str | None:
    return None if value is None or (math.isfinite(value) and value > 0) else "must be a positive number"


def non_negative_number(value) -> str | None:
    return None if value is None or (math.isfinite(value) and value >= 0) else "must be a number >= 0"


def fraction(value) -> str | None:
    return None if value is None or (math.isfinite(value) and 0 <= value < 1) else "must be in [0, 1)"


POSITIVE = {"check": positive}
NON_NEGATIVE = {"check": non_negative}


@dataclasses.dataclass(frozen=True)
class Range:
    """An integer setting's range and why it is that; a value outside it (not null) is refused."""

    low: int
    high: int
    why: str

    def __call__(self, value) -> str | None:
        return None if value is None or self.low <= value <= self.high else self.rule()

    def rule(self) -> str:
        return f"must be an integer from {self.low} to {self.high} ({self.why})"


def between(low: int, high: int, why: str) -> dict:
    """A field's metadata for an integer in [low, high]."""
    return {"check": Range(low, high, why)}


@dataclasses.dataclass(frozen=True)
class Bounds:
    """A number setting's interval (closed unless `low_open` / `high_open`) and why it is that; a value
    outside it, or not finite, is refused (null is left to the field's type)."""

    low: float
    high: float
    why: str
    low_open: bool = False
    high_open: bool = False

    def __call__(self, value) -> str | None:
        if value is None:
            return None
        above_low = value > self.low if self.low_open else value >= self.low
        below_high = value < self.high if self.high_open else value <= self.high
        return None if math.isfinite(value) and above_low and below_high else self.rule()

    def rule(self) -> str:
        return (f"must be a number in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
                f"{')' if self.high_open else ']'} ({self.why})")


def within(low: float, high: float, why: str, low_open: bool = False, high_open: bool = False) -> dict:
    """A field's metadata for a number in the interval from low to high."""
    return {"check": Bounds(low, high, why, low_open, high_open)}


SEED = Range(0, 2**32 - 1, "seeds are 32-bit: numpy's and Lightning's")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of every settings class; SECTION names it in error messages (params.yaml's key)."""

    SECTION: typing.ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            value = _checked_type(self._key(field.name), getattr(self, field.name), hints[field.name])
            object.__setattr__(self, field.name, value)
            problem = field.metadata.get("check", lambda _: None)(value)
            if problem:
                raise BlockzooError(f"{self._key(field.name)} {problem}, got {value!r}")

    @classmethod
    def _key(cls, name: str) -> str:
        return f"{cls.SECTION}.{name}" if cls.SECTION else name

    @classmethod
    def limit(cls, name: str) -> "Range | Bounds":
        """The Range (integer) or Bounds (number) of field `name` (a command's option takes it from here)."""
        return next(field.metadata["check"] for field in dataclasses.fields(cls) if field.name == name)

    @classmethod
    def keys(cls) -> list[str]:
        return [field.name for field in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None, **fixed):
        """Build from user settings (a params.yaml section): unknown keys are an error naming the closest."""
        values = dict(values or {})
        check_known_keys(values, cls.keys(), f"{cls.SECTION}." if cls.SECTION else "")
        return cls(**{**values, **fixed})

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _checked_type(key: str, value: Any, annotation: Any) -> Any:
    """`value` as the annotated type (ints accepted for floats), or a one-line error."""
    options = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    if value is None:
        if type(None) in options:
            return None
        raise BlockzooError(f"{key} must be set (it has no 'null' value); {_describe(options)}")
    for option in options:
        if option is type(None):
            continue
        if typing.get_origin(option) is Literal:
            if value in typing.get_args(option):
                return value
        elif option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        elif option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        elif option in (bool, str) and isinstance(value, option):
            return value
        elif option is dict and isinstance(value, Mapping):
            return dict(value)
        elif option is list and isinstance(value, (list, tuple)):
            return list(value)
        elif typing.get_origin(option) is tuple and isinstance(value, (list, tuple)):
            item = typing.get_args(option)[0]
            return tuple(_checked_type(f"{key}[{i}]", v, item) for i, v in enumerate(value))
    raise BlockzooError(f"{key} must be {_describe(options)}, got {value!r}")


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string", dict: "a mapping",
          list: "a list"}


def _describe(options: tuple) -> str:
    words = []
    for option in options:
        if option is type(None):
            words.append("null")
        elif typing.get_origin(option) is Literal:
            words.append("one of " + ", ".join(repr(v) for v in typing.get_args(option)))
        else:
            words.append(_WORDS.get(option) or ("a list" if typing.get_origin(option) is tuple else str(option)))
    return " or ".join(words)
