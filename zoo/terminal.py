"""Rich consoles and progress columns that show names as they are.

Rich turns ``:fire:``-style codes into emoji by default, in printed text, table cells and
progress descriptions alike: a file ``a:fire:.jpg`` was named ``a🔥.jpg`` in every message, so
that an error no longer named the file on disk.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import TextColumn

__all__ = ["console", "description_column"]


def console(**options: Any) -> Console:
    """A rich Console that prints emoji codes as typed (no highlighting unless asked)."""
    return Console(**{"highlight": False, **options, "emoji": False})


def description_column(style: str = "") -> TextColumn:
    """A progress bar's description column, as plain text: markup and emoji codes shown as typed."""
    return TextColumn("{task.description}", markup=False, style=style)
