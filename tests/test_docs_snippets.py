"""The Python snippets a user copies from the README and docs/restore.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(doc: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / doc).read_text(), flags=re.S)


@pytest.mark.parametrize("doc", ["README.md", "docs/restore.md"])
def test_python_snippets_run_as_written(doc: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(doc)
    assert blocks, f"{doc} has no Python snippet"
    monkeypatch.chdir(tmp_path)  # the snippets open photo.jpg from the current folder
    pixels = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save("photo.jpg", quality=20)
    for block in blocks:
        names: dict[str, object] = {}
        exec(compile(block, doc, "exec"), names)  # noqa: S102 - the documentation's own code
        assert isinstance(names["restored"], Image.Image)
        assert names["restored"].size == (64, 48)
