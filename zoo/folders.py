"""Walking folders of images: linked sub-folders are followed, each real folder listed once."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator
from pathlib import Path


def is_dir(path: Path) -> bool:
    """Whether ``path`` is a folder; False when it cannot be looked at (reading it says why)."""
    try:
        return path.is_dir()
    except OSError:
        return False


def walk_files(root: Path, *, recursive: bool = True, skip_hidden: bool = False,
               skip: Collection[Path] = (),
               onerror: Callable[[OSError], None] | None = None) -> Iterator[Path]:
    """The files under ``root``, folder by folder in name order. A linked sub-folder is followed
    (a photo library assembled from links is common), but a folder reached a second time (a
    link back up, a second way in) is not listed again, so links cannot loop. Sub-folders in
    ``skip`` (an output folder inside the input, say) are not entered."""
    listed: set[str] = {os.path.realpath(folder) for folder in skip}  # passed by as if listed
    listed.discard(os.path.realpath(root))
    for folder, dirs, files in os.walk(root, onerror=onerror, followlinks=True):
        real = os.path.realpath(folder)
        if real in listed:
            dirs.clear()
            continue
        listed.add(real)
        if not recursive:  # before os.walk enters them: an unreadable one would be an error
            dirs.clear()
        if skip_hidden:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            files = [f for f in files if not f.startswith(".")]
        dirs.sort()
        for name in sorted(files):
            yield Path(folder, name)
