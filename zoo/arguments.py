"""Architecture arguments checked against their type hints before a network is built.

They come from recipes, ``config.json`` files and command lines as JSON, where Python would take
``"no"`` for ``blur=True``, ``true`` for ``last_blocks=1`` and ``48.5`` channels for 48 without a
word; a network built from such a value is not the one its file describes.
"""

from __future__ import annotations

import inspect
import json
import numbers
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["check_arguments", "resolved_arguments", "unchecked_arguments"]

_UNKNOWN = object()
"""The hint of an argument that has none, or one that cannot be resolved."""


def check_arguments(func: Callable[..., Any], arguments: Mapping[str, Any]) -> None:
    """Raise ``TypeError`` naming the first argument ``func`` does not take, or whose value does
    not have its hinted type.

    Known hints: ``bool``, ``int``, ``float``, ``str``, ``None``, ``list[X]`` / ``Sequence[X]`` /
    ``tuple[X, ...]``, fixed ``tuple[X, Y]`` (by position and length), ``Literal[...]`` and unions
    of these (``X | None``). An argument without a hint, or with another one, is left to ``func``
    (:func:`unchecked_arguments` names them, for the registry's tests).
    """
    target = func.__init__ if inspect.isclass(func) else func
    parameters = inspect.signature(target).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    known = [n for n, p in parameters.items() if n != "self" and p.kind in
             (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    for name in arguments:
        if not takes_any and name not in known:
            raise TypeError(f"unknown argument {name!r} (it takes {', '.join(known) or 'none'})")
    hints = _hints(func)
    for name, value in arguments.items():
        hint = hints.get(name, _UNKNOWN)
        if _known(hint) and not _fits(value, hint):
            raise TypeError(f"argument {name!r} must be {_describe(hint)}, "
                            f"got {type(value).__name__} {value!r}")


def unchecked_arguments(func: Callable[..., Any], names: Sequence[str]) -> list[str]:
    """The ``names`` among ``func``'s arguments whose values :func:`check_arguments` cannot
    check: no hint, a hint that does not resolve, or a kind of hint it does not know."""
    hints = _hints(func)
    return [name for name in names if not _known(hints.get(name, _UNKNOWN))]


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    """Each parameter's hint, resolved one by one: a hint naming something imported only for
    type checkers leaves that parameter unknown, not all of them (as ``get_type_hints`` would)."""
    target = func.__init__ if inspect.isclass(func) else func
    module = sys.modules.get(getattr(target, "__module__", ""), None)
    namespace = dict(vars(module)) if module is not None else {}
    hints: dict[str, Any] = {}
    for name, parameter in inspect.signature(target).parameters.items():
        hint = parameter.annotation
        if hint is inspect.Parameter.empty:
            continue
        if isinstance(hint, str):
            try:
                hint = eval(hint, namespace)  # noqa: S307  (the module's own annotation text)
            except Exception:  # noqa: BLE001  (a name imported under TYPE_CHECKING, say)
                continue
        hints[name] = hint
    return hints


def _known(hint: Any) -> bool:
    origin, inner = typing.get_origin(hint), typing.get_args(hint)
    if hint in (bool, int, float, str, type(None)):
        return True
    if origin is typing.Literal:
        return True
    if origin in (typing.Union, types.UnionType):
        return all(_known(option) for option in inner)
    if origin in (list, Sequence) and len(inner) == 1:
        return _known(inner[0])
    if origin is tuple and inner:
        items = inner[:1] if len(inner) == 2 and inner[1] is Ellipsis else inner
        return all(_known(item) for item in items)
    return False


def _fits(value: Any, hint: Any) -> bool:  # noqa: PLR0911  (one case per kind of hint)
    origin, inner = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, option) for option in inner)
    if origin is typing.Literal:
        return any(value == option and type(value) is type(option) for option in inner)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:  # bool is an int subclass, and JSON's true is not a count (numpy's ints are)
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if not isinstance(value, (list, tuple)):  # a sequence hint: JSON gives a list
        return False
    if origin is tuple and not (len(inner) == 2 and inner[1] is Ellipsis):
        return len(value) == len(inner) and all(_fits(v, h) for v, h in zip(value, inner))
    return all(_fits(v, inner[0]) for v in value)


def _describe(hint: Any) -> str:
    origin, inner = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(option) for option in inner)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(option) for option in inner)
    if origin is tuple and not (len(inner) == 2 and inner[1] is Ellipsis):
        return f"a list of {len(inner)}: " + ", ".join(_describe(item) for item in inner)
    if origin in (list, tuple, Sequence) and inner:
        return f"a list of {_describe(inner[0])}"
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


def resolved_arguments(cls: type, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments a network of class ``cls`` is built with from ``args``: its defaults filled
    in, values as JSON has them (tuples as lists)."""
    defaults = {name: p.default for name, p in inspect.signature(cls).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return json.loads(json.dumps({**defaults, **args}, default=repr))
