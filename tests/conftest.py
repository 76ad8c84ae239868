"""Set-up shared by every test file."""

from __future__ import annotations

import os
import tempfile

import pytest


@pytest.fixture(scope="session", autouse=True)
def _temporary_files_under_pytests_root(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Temporary files of the code under test and of its child processes (torchrun's
    ``torchelastic_*`` folders, multiprocessing's ``pymp-*``) go under pytest's temporary root,
    which pytest prunes, not into the machine's /tmp, where every run left them."""
    os.environ["TMPDIR"] = str(tmp_path_factory.mktemp("tmpdir"))
    tempfile.tempdir = None  # read TMPDIR again
