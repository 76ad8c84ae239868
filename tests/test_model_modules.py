"""Mistakes in a researcher's model module reach the user as one line, and the other entries
still work: a module that fails to import, a forgotten import line, an output of another shape
from ``zoo restore`` and ``zoo train``, a network without parameters to train."""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.cli import main
from zoo.errors import ZooError

TINY_RECIPE = Path(__file__).parent / "train_tiny.toml"  # not test_train's: it registers an entry

ModuleWriter = Callable[..., None]

HEADER = """\
import torch
from torch import nn

from zoo.models.base import Restorer
from zoo.registry import ModelInfo, register_architecture, register_model
"""


@pytest.fixture
def model_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleWriter]:
    """``write(stem, source, imported=True, header=True)``: a module ``zoo.models.<stem>`` (in a
    folder added to ``zoo.models``' path), ``source`` after :data:`HEADER`'s imports unless
    ``header=False``, named in ``MODULES`` unless ``imported=False``. The registry loads
    again on its next use, on copies of its tables, with the real modules' entries kept."""
    import zoo.models
    from zoo import registry

    folder = tmp_path / "models"
    folder.mkdir()
    registry.list_models()  # the real modules, imported once for the whole session
    monkeypatch.setattr(zoo.models, "__path__", [*zoo.models.__path__, str(folder)])
    for table in ("_MODELS", "_ARCHITECTURES", "_REGISTERED_BY"):
        monkeypatch.setattr(registry, table, dict(getattr(registry, table)))
    monkeypatch.setattr(registry, "_PROBLEMS", [])
    written: list[str] = []

    def write(stem: str, source: str, *, imported: bool = True, header: bool = True) -> None:
        (folder / f"{stem}.py").write_text((HEADER if header else "") + textwrap.dedent(source))
        importlib.invalidate_caches()
        written.append(f"zoo.models.{stem}")
        if imported:
            monkeypatch.setattr(zoo.models, "MODULES", (*zoo.models.MODULES, stem))
        monkeypatch.setattr(registry, "_LOADED", False)  # the modules imported stay imported

    yield write
    for module in written:
        sys.modules.pop(module, None)


SHRINKING = """
@register_architecture
class Shrinking(Restorer):
    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., 1:-1, 1:-1]  # a valid-padding conv's output size


register_model(ModelInfo(name="x-shrinking", description="x", architecture="Shrinking"))
"""


def _images(folder: Path, *sizes: tuple[int, int]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i, (w, h) in enumerate(sizes):
        paths.append(folder / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(paths[-1])
    return paths


def test_zoo_restore_says_a_smaller_output_in_one_line_per_image_and_writes_nothing(
        model_module: ModuleWriter, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It wrote a 99x75 PNG for a 101x77 input without a word."""
    model_module("x_shrinking", SHRINKING)
    inputs = _images(tmp_path / "in", (101, 77), (40, 32))
    assert main(["restore", "-m", "x-shrinking", "--out-dir", str(tmp_path / "out"),
                 *map(str, inputs)]) == 1
    err = capsys.readouterr().err
    for path, got, given in zip(inputs, ["(1, 3, 75, 99)", "(1, 3, 30, 38)"],
                                ["(1, 3, 77, 101)", "(1, 3, 32, 40)"]):
        assert (f"{path}: the model failed on this image (x-shrinking: forward_padded returned a "
                f"tensor of shape {got} for an input of shape {given}; it must return a tensor of "
                "its input's shape)") in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _train(name: str, tmp_path: Path) -> int:
    # train_tiny.toml's critic is test_train:TinyCritic, registered when test_train is imported:
    # run alone, this file failed with "not a registered critic". Imported here, not at the top,
    # where it put test_train's entry into the registry before test_models.py's collection
    # parametrised over every entry.
    import test_train  # noqa: F401

    data = _images(tmp_path / "data", (40, 48), (48, 40))[0].parent
    return main(["train", name, "--recipe", str(TINY_RECIPE), "--data", str(data), "--val", "",
                 "--out", str(tmp_path / "run"), "--no-progress"])


def test_zoo_train_refuses_a_smaller_output_in_one_line_before_writing_out(
        model_module: ModuleWriter, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It was a size-mismatch traceback from the loss, after OUT was made."""
    model_module("x_shrinking_conv", """
        @register_architecture
        class ShrinkingConv(Restorer):
            def __init__(self, width: int = 4) -> None:
                super().__init__()
                self.conv = nn.Conv2d(3, 3, 3)  # no padding: 2 pixels smaller

            def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
                return self.conv(x)


        register_model(ModelInfo(name="x-shrinking-conv", description="x",
                                 architecture="ShrinkingConv"))
        """)
    assert _train("x-shrinking-conv", tmp_path) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "error: x-shrinking-conv: forward_padded returned a tensor of shape (2, 3, 14, 14) for an "
        "input of shape (2, 3, 16, 16); it must return a tensor of its input's shape"), err
    assert not (tmp_path / "run").exists()


def test_zoo_train_refuses_a_model_without_parameters_before_writing_out(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It was "optimizer got an empty parameter list", a traceback, after OUT was made."""
    assert _train("jpeg", tmp_path) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: model 'jpeg' has no trainable parameters: there is nothing for `zoo train` to "
        "learn (an entry that needs no training needs no recipe)")
    assert not (tmp_path / "run").exists()


BROKEN = {
    "x_starred": ("""
        @register_architecture
        class Starred(Restorer):
            def __init__(self, *sizes: int) -> None:
                super().__init__()
        """, r"zoo/models/x_starred.py, line \d+: cannot be imported, its entries are left out "
             r"\(TypeError: Starred.__init__ takes \*sizes: a Restorer names each constructor "),
    "x_syntax": ("def broken(:\n", r"zoo/models/x_syntax.py: cannot be imported, its entries are "
                 r"left out \(SyntaxError: .*line \d+\)"),
    "x_clash": ("""
        from zoo.models.identity import Identity

        register_model(ModelInfo(name="x-clash-first", description="x", architecture="Identity"))
        register_model(ModelInfo(name="jpeg", description="x", architecture="Identity"))
        """, r"zoo/models/x_clash.py, line \d+: cannot be imported, its entries are left out "
             r"\(model 'jpeg' of zoo.models.x_clash is already registered by "
             r"zoo.models.identity; give the entry another name\)"),
}


@pytest.mark.parametrize("stem", BROKEN)
def test_a_module_that_fails_to_import_is_one_line_and_the_others_work(
        stem: str, model_module: ModuleWriter, capsys: pytest.CaptureFixture[str]) -> None:
    """Each was a traceback from every command, even `zoo list` and `zoo restore -m unet-l1`
    (the clash: one line, but `zoo list` then exited 2 listing nothing)."""
    from zoo.registry import ModelModuleWarning, load_problems

    source, message = BROKEN[stem]
    model_module(stem, source)
    model_module("x_sound", SHRINKING)  # imported after the broken one
    with pytest.warns(ModelModuleWarning) as caught:  # said where the registry is first used
        assert {"jpeg", "unet-l1", "x-shrinking"} <= set(zoo.list_models())
    assert "x-clash-first" not in zoo.list_models()  # a broken module's entries are left out
    [problem] = load_problems()
    assert re.fullmatch(message + ".*", problem), problem
    assert [str(w.message) for w in caught if w.category is ModelModuleWarning] == [problem]
    assert caught[0].filename == __file__  # the caller's line, not the registry's
    assert zoo.create_model("unet-l1").num_parameters() > 0
    capsys.readouterr()
    assert main(["list"]) == 1
    out, err = capsys.readouterr()
    assert "unet-l1" in out and "x-shrinking" in out
    assert err.splitlines() == [f"error: {problem}"]


def test_a_command_says_a_module_failed_to_import_before_it_works(
        model_module: ModuleWriter, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """zoo bench and zoo restore went on without a word: a broken module's entries were simply
    missing from a leaderboard."""
    [image] = _images(tmp_path / "in", (40, 48))
    model_module("x_syntax", BROKEN["x_syntax"][0])
    assert main(["restore", str(image), "-m", "jpeg", "--out-dir", str(tmp_path / "out"),
                 "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"^warning: zoo/models/x_syntax.py: cannot be imported, its entries are "
                     r"left out \(SyntaxError: ", err, re.MULTILINE), err


def test_under_torchrun_the_first_process_alone_says_it(
        model_module: ModuleWriter, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every process of a torchrun job imports the same modules: the warning came once each."""
    import warnings

    from zoo.registry import load_problems

    monkeypatch.setenv("RANK", "1")
    model_module("x_syntax", BROKEN["x_syntax"][0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert "jpeg" in zoo.list_models()
    assert len(load_problems()) == 1 and not caught  # recorded, for zoo list; not said


def test_an_unknown_name_names_the_module_not_imported(model_module: ModuleWriter) -> None:
    """It said "unknown model 'x-forgotten'; known models: ..." with no hint."""
    from zoo.registry import get_model_info

    model_module("x_forgotten", SHRINKING.replace("x-shrinking", "x-forgotten"), imported=False)
    with pytest.raises(ZooError, match=r"^unknown model 'x-forgotten'; known models: .*jpeg.*; "
                                       r"zoo/models/x_forgotten.py registers models but is not "
                                       r"imported \(add 'x_forgotten' to MODULES in "
                                       r"zoo/models/__init__.py\)$"):
        get_model_info("x-forgotten")
    with pytest.raises(ZooError, match=r"^unknown model 'x-forgotten': not a registry name .*; "
                                       r"zoo/models/x_forgotten.py registers models but is not "
                                       r"imported \(add 'x_forgotten' to MODULES"):
        zoo.load("x-forgotten")  # zoo restore --model, zoo bench --models


def test_an_unknown_name_says_nothing_more_when_every_module_is_imported(
        model_module: ModuleWriter) -> None:
    from zoo.registry import get_model_info, not_imported_hint

    model_module("x_helper", "def helper() -> None:\n    pass\n", imported=False)  # no entry
    assert not_imported_hint() == ""
    with pytest.raises(ZooError, match=r"^unknown model 'x-nope'; known models: [a-z0-9, -]+$"):
        get_model_info("x-nope")
