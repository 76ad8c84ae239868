"""Architecture arguments checked against their type hints before a network is built.

They come from recipes, ``config.json`` files and command lines as JSON, where Python would take
``"no"`` for ``blur=True``, ``true`` for ``last_blocks=1`` and ``48.5`` channels for 48 without a
word; a network built from such a value is not the one its file describes.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["check_arguments"]


def check_arguments(func: Callable[..., Any], arguments: Mapping[str, Any]) -> None:
    """Raise ``TypeError`` naming the first argument whose value does not have its hinted type.

    Known hints: ``bool``, ``int``, ``float``, ``str``, sequences of those, ``X | None``; an
    argument without a hint, or with another one, is left to ``func``.
    """
    target = func.__init__ if inspect.isclass(func) else func
    try:
        hints = typing.get_type_hints(target)
    except (NameError, TypeError):  # a hint that does not resolve says nothing checkable
        return
    for name, value in arguments.items():
        hint = hints.get(name)
        if hint is not None and not _fits(value, hint):
            raise TypeError(f"argument {name!r} must be {_describe(hint)}, "
                            f"got {type(value).__name__} {value!r}")


def _fits(value: Any, hint: Any) -> bool:  # noqa: PLR0911  (one case per kind of hint)
    origin, inner = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, option) for option in inner)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:  # bool is an int subclass, and JSON's true is not a count
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple, Sequence) and inner:
        if not isinstance(value, (list, tuple)):
            return False
        item = inner[0]
        return all(_fits(v, item) for v in value)
    return True


def _describe(hint: Any) -> str:
    origin, inner = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(option) for option in inner)
    if origin in (list, tuple, Sequence) and inner:
        return f"a list of {_describe(inner[0])}"
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))
