"""Argument checks that fail early with a message naming the argument and what it accepts."""

from typing import Any, Iterable, Sequence


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f'{name} must be one of {list(allowed)}, got {value!r}')


def check_bool(name: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is ``True`` or ``False`` (not merely truthy)."""
    if not isinstance(value, bool):
        raise ValueError(f'{name} must be one of [True, False], got {value!r}')


def check_positive_int(name: str, value: Any) -> None:
    """Raise ``ValueError`` unless ``value`` is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{name} must be a positive integer, got {value!r}')


def check_int_range(name: str, value: Any, low: int, high: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an int in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f'{name} must be an integer in [{low}, {high}], got {value!r}')


def check_indices(name: str, values: Sequence[Any], num: int) -> None:
    """Raise ``ValueError`` unless ``values`` is a non-empty sequence of distinct ints in ``[0, num)``."""
    if isinstance(values, int):
        values = (values,)
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < num]
    if not values or bad or len(set(values)) != len(values):
        raise ValueError(
            f'{name} must hold distinct stage indices in [0, {num - 1}] '
            f'(this backbone has {num} stages), got {tuple(values)!r}'
        )
