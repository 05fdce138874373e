"""Checks of a Python caller's arguments that name the argument, for every layer: a wrong type caught here fails
before any work, in one line, instead of in a comparison or deep in torch naming nothing."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

from simsiam_zoo.errors import shown_value, type_name


def is_int(value: object) -> bool:
    """A whole number that is not a bool: 2.5 images a batch failed deep in the run, True embedded one image."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """A real number that is not a bool: True was taken as 1."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_real(name: str, value: object) -> None:
    """A real number (`is_real`): "0.1" failed in a comparison that named nothing."""
    if not is_real(value):
        raise TypeError(f"{name} must be a number, got {value!r} ({type_name(value)})")


def check_bool(name: str, value: object) -> None:
    """True or False: "no" is true in Python, and was taken as True."""
    if not isinstance(value, bool):  # a numpy bool too: bool(value) says which one it is meant as
        raise TypeError(f"{name} must be True or False, got {value!r} ({type_name(value)})")


def check_instance(name: str, value: object, kind: type) -> None:
    """An instance of `kind`: None or a dict for an options dataclass failed later in an AttributeError."""
    if not isinstance(value, kind):
        article = "an" if kind.__name__[0] in "AEIOU" else "a"
        raise TypeError(f"{name} must be {article} {kind.__name__}, got {shown_value(value)} ({type_name(value)})")


def as_sequence(name: str, value: object, *, example: str) -> tuple[Any, ...]:
    """`value`'s items as a tuple: a string is a sequence too (of one-letter items), and a single number is none."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a sequence such as {example}, got {shown_value(value)} ({type_name(value)})")
    return tuple(value)
