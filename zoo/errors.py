"""User-facing errors: the CLI prints these as one line, without a traceback."""

import difflib
import sys
import unicodedata


def first_line(problem: BaseException | str) -> str:
    """The first line of an exception's (or warning's) message, or its type's name if empty."""
    text = str(problem).strip()
    return text.splitlines()[0] if text else type(problem).__name__


def os_reason(exc: OSError) -> str:
    """The system's reason for an OSError without its path ("Permission denied"), else its first
    line: for messages that name the file themselves."""
    return exc.strerror or first_line(exc)


def error_line(exc: BaseException) -> str:
    """An error as the CLI's ``error:`` line says it: an OSError with the file it names and the
    system's reason, anything else its message."""
    if isinstance(exc, OSError):
        return f"{exc.filename}: {os_reason(exc)}" if exc.filename else os_reason(exc)
    return str(exc)


_OUT_OF_MEMORY_WORDS = ("allocate", "could not create a primitive")
"""What a CPU's allocation failure says: torch's allocator ("DefaultCPUAllocator: can't allocate
memory"), or oneDNN's convolution that cannot get its workspace (under ``ulimit -v``, say)."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure: torch's on a GPU, Python's, or a CPU's, which is
    a plain RuntimeError (:data:`_OUT_OF_MEMORY_WORDS`)."""
    import torch

    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(w in first_line(exc) for w in _OUT_OF_MEMORY_WORDS)


class ZooError(Exception):
    """An error whose message is complete for the user (what went wrong and what to do)."""


class WeightsError(ZooError):
    """Weights are missing, corrupt, or do not fit the architecture."""


class ImageError(ZooError):
    """An input image cannot be used; the message names the file and the problem."""


class DataError(ZooError):
    """A dataset is missing or unusable."""


class RecipeError(ZooError):
    """A training recipe is invalid."""


class UnknownNameError(ZooError, KeyError):
    """No registry entry or architecture of that name (a KeyError too, for dict-like lookups)."""

    def __str__(self) -> str:  # KeyError's own would quote the message
        return str(self.args[0]) if self.args else ""


class Notice(UserWarning):
    """Something the user should know that is not wrong (a first-use download): the command
    line shows it as a ``note:`` line rather than a ``warning:``."""


def first_few(items: list[str], limit: int = 3) -> str:
    """``a, b, c and 4 more``: the first ``limit`` items of a list a message names."""
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def counted(count: int, noun: str) -> str:
    """``1 row``, ``2 rows``: a count with its noun (a plural in ``s``)."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def did_you_mean(name: str, choices: list[str]) -> str:
    """``did you mean 'lpips_alex'? `` for the choice closest to a mistyped name (case, ``_`` for
    ``-`` and a shortened name forgiven), or ``""`` when none is close."""
    def folded(text: str) -> str:
        return text.strip().lower().replace("_", "-")

    by_folded = {folded(choice): choice for choice in choices}
    meant = difflib.get_close_matches(folded(name), list(by_folded), n=1)
    return f"did you mean {by_folded[meant[0]]!r}? " if meant else ""


def printable(text: str) -> str:
    """``text`` with its control characters (a newline, a terminal escape), line separators
    and undecodable bytes written as Python escapes (``\\n``, ``\\x1b``), so that a file
    name cannot break a message's one line or drive the terminal."""
    return "".join(ascii(char)[1:-1] if _hidden(char) else char for char in text)


def _hidden(char: str) -> bool:
    """Whether ``char`` is not shown as itself: controls, format and surrogate characters."""
    category = unicodedata.category(char)
    return category[0] == "C" or category in ("Zl", "Zp")


def caller_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn`` that points a warning at the first caller outside
    this package, however many of its functions lie between (``model.restore`` or
    ``restore_image``, say), so that the warning names the user's line and its module. Frames
    are told by their module's name, which no symbolic link or install layout changes."""
    frame, level = sys._getframe(1), 1  # the caller of this function: the one that warns
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "zoo":
        frame, level = frame.f_back, level + 1
    return level
