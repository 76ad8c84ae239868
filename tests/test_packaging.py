"""The wheel a release is built as: what it holds, and the version it states (a release
manager's audit: the version was written in two places, nothing checked they agreed)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import zoo
from zoo.registry import get_model_info, list_models

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(out), str(ROOT)], check=True)
    (built,) = out.glob("jpeg_zoo-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_states_zoo_s_own_version(wheel: zipfile.ZipFile) -> None:
    (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    fields = Parser().parsestr(wheel.read(metadata).decode())
    assert fields["Name"] == "jpeg-zoo" and fields["Version"] == zoo.__version__
    assert fields["License-Expression"] == "MIT" and fields.get_all("Classifier")
    assert Path(wheel.filename).name == f"jpeg_zoo-{zoo.__version__}-py3-none-any.whl"


def test_the_wheel_holds_the_weights_and_what_zoo_reads_and_nothing_else(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for entry in list_models(with_weights=True):
        assert f"zoo/weights/{entry}.safetensors" in names, entry
        assert get_model_info(entry).recipe is None or \
            f"zoo/_data/training/{get_model_info(entry).recipe}.toml" in names
    for doc in ("README.md", "bench.md", "metrics.md", "models.md", "restore.md", "weights.md"):
        assert (f"zoo/_data/docs/{doc}" if doc != "README.md" else "zoo/_data/training/README.md") in names
    assert {"zoo/_data/benchmarks/default.toml", "zoo/_data/baselines/published.csv"} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n or n.endswith(
        (".pyc", ".ckpt", ".tmp")) or "/device/" in n or n.startswith("leaderboard/")]


def test_the_changelog_s_latest_heading_is_this_version() -> None:
    """A version bump is one edit in zoo/__init__.py and a heading in CHANGELOG.md."""
    headings = [line for line in (ROOT / "CHANGELOG.md").read_text().splitlines() if line.startswith("## ")]
    assert headings and headings[0].split()[1] == zoo.__version__, headings[:1]
