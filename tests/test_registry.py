"""The registry: entries, their facts, and the rules for adding one."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Literal

import pytest
import torch

import zoo
from zoo.arguments import unchecked_arguments
from zoo.models.base import Restorer
from zoo.registry import (
    InputConventions,
    ModelInfo,
    architecture_class,
    create_model,
    get_model_info,
    list_models,
    register_model,
)

REQUIRED_ENTRIES = {"jpeg", "arnet-nogan", "unet-l1", "gan"}


def test_required_entries_are_registered() -> None:
    assert REQUIRED_ENTRIES <= set(list_models())


def test_list_models_filters_by_pattern() -> None:
    assert list_models("unet*") == [n for n in list_models() if n.startswith("unet")]
    assert list_models("no-such-*") == []
    assert "jpeg" not in list_models(trainable=True)


@pytest.mark.parametrize("name", list_models())
def test_entry_facts_are_consistent(name: str) -> None:
    info = get_model_info(name)
    cls = architecture_class(info.architecture)
    assert issubclass(cls, Restorer)
    # The network's padding (an instance may set its own, as UNet's depth does), not the class's
    assert info.inputs.pad_multiple == zoo.create_model(name).pad_multiple
    # Its arguments are type-checked when they come from recipes, config.json and grow.py
    assert unchecked_arguments(cls, list(info.arch_args)) == [], (
        "type-hint these constructor arguments (bool, int, float, str, list/tuple/Sequence of "
        "them, Literal, X | None)")
    assert info.description
    if info.weights is not None:
        assert len(info.weights.sha256) == 64 and info.weights.file.endswith(".safetensors")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        info.arch_args["x"] = 1  # type: ignore[index]


@pytest.mark.parametrize("name", list_models())
def test_create_model_builds_the_registered_architecture(name: str) -> None:
    model = zoo.create_model(name)
    info = get_model_info(name)
    assert type(model).__name__ == info.architecture
    assert model.info is info and model.name == name
    config, registered = (json.loads(json.dumps(c)) for c in (model.config, dict(info.arch_args)))
    assert config == registered, (
        f"{type(model).__name__}'s config {config} is not the entry's arch_args {registered}: "
        "config keeps the constructor's arguments (less config_excludes), unless the "
        "constructor sets self.config itself")


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known models: .*jpeg"):
        get_model_info("no-such-model")


def test_duplicate_registration_is_refused_in_one_line_naming_both_modules() -> None:
    """It was a ValueError traceback at import, for every `zoo` command."""
    from zoo.errors import ZooError
    from zoo.registry import register_architecture

    with pytest.raises(ZooError, match=f"^model 'jpeg' of {__name__} is already registered by "
                                       "zoo.models.identity; give the entry another name$"):
        register_model(ModelInfo(name="jpeg", description="dup", architecture="Identity"))

    class UNet(Restorer):  # the name of zoo.models.unet's class
        pass

    with pytest.raises(ZooError, match=f"^architecture 'UNet' of {__name__} is already "
                                       "registered by zoo.models.unet; give the class"):
        register_architecture(UNet)


def test_an_entry_whose_own_arguments_do_not_fit_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """arch_args={"channels": 16.0} in a new entry was a TypeError traceback naming no entry."""
    import zoo.registry
    from zoo.errors import ZooError

    info = ModelInfo(name="x-args-test", description="x", architecture="UNet",
                     arch_args={"channels": [8.0, 16, 32], "blocks": [1, 1, 1]})
    monkeypatch.setitem(zoo.registry._MODELS, info.name, info)
    with pytest.raises(ZooError, match=r"^model 'x-args-test': its registered arch_args do not "
                                       r"fit UNet \(argument 'channels' must be a list of int"):
        zoo.create_model(info.name)


def test_an_entry_with_a_misspelt_argument_is_one_line_and_zoo_list_goes_on(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """arch_args={"chanels": ...} was a TypeError traceback from `zoo list`, which lists no
    entry then; the entry is named in one line and the others are listed."""
    import zoo.registry
    from zoo.cli import main
    from zoo.errors import ZooError

    info = ModelInfo(name="x-misspelt-test", description="x", architecture="UNet",
                     arch_args={"chanels": [8, 16, 32]})
    monkeypatch.setitem(zoo.registry._MODELS, info.name, info)
    with pytest.raises(ZooError, match=r"^model 'x-misspelt-test': its registered arch_args do "
                                       r"not fit UNet \(unknown argument 'chanels' \(it takes "
                                       r"channels, blocks\)\)$"):
        zoo.create_model(info.name)
    capsys.readouterr()
    assert main(["list"]) == 1
    out, err = capsys.readouterr()
    assert "unet-l1" in out and "x-misspelt-test" in out
    assert err.splitlines() == [f"error: model 'x-misspelt-test': its registered arch_args do not "
                                "fit UNet (unknown argument 'chanels' (it takes channels, blocks))"]


def test_unknown_architecture_is_refused_naming_the_known_ones() -> None:
    """A ZooError, so a typo in a new entry is one line from `zoo`, not an import traceback."""
    from zoo.errors import ZooError

    with pytest.raises(ZooError, match=r"unknown architecture 'Nope' \(known: .*Identity.*UNet"):
        register_model(ModelInfo(name="x-test-entry", description="x", architecture="Nope"))


def test_entry_padding_that_disagrees_with_its_network_is_refused_on_use(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import zoo.registry
    from zoo.errors import ZooError

    info = ModelInfo(name="x-pad-test", description="x", architecture="UNet",
                     arch_args={"channels": [8, 16], "blocks": [1, 1]},
                     inputs=InputConventions(pad_multiple=8))
    monkeypatch.setitem(zoo.registry._MODELS, info.name, info)
    with pytest.raises(ZooError, match="pad_multiple is 8 but UNet pads to 4"):
        zoo.create_model(info.name)
    assert zoo.create_model(info.name, channels=[8, 16, 32], blocks=[1, 1, 1]).pad_multiple == 8


@pytest.mark.parametrize(("name", "overrides", "message"), [
    ("arnet-nogan", {"blur": "no"}, "argument 'blur' must be bool, got str 'no'"),
    ("arnet-nogan", {"last_blocks": True}, "argument 'last_blocks' must be int, got bool True"),
    ("arnet-nogan", {"nf": 2.5}, "argument 'nf' must be int, got float 2.5"),
    ("unet-l1", {"channels": [48.5, 96, 192]}, "argument 'channels' must be a list of int"),
    ("unet-l1", {"blocks": "112"}, "argument 'blocks' must be a list of int, got str '112'"),
])
def test_architecture_arguments_of_the_wrong_type_are_refused(name: str, overrides: dict,
                                                              message: str) -> None:
    """JSON values that Python would take silently (``"no"`` as true, 48.5 channels as 48)."""
    with pytest.raises(TypeError, match=message):
        create_model(name, **overrides)


def test_architecture_arguments_of_the_hinted_types_build() -> None:
    import numpy as np

    model = create_model("unet-l1", channels=(8, 16, np.int64(32)), blocks=[1, 1, 1])
    assert model.config == {"channels": [8, 16, 32], "blocks": [1, 1, 1]}
    assert create_model("arnet-nogan", blur=False, last_blocks=2).config["last_blocks"] == 2


def test_pretrained_weights_are_refused_for_overridden_arguments() -> None:
    """blur=False keeps every weight's shape: the weights would load, into another network."""
    with pytest.raises(ValueError, match="pretrained weights fit only the registered architecture"):
        create_model("arnet-nogan", pretrained=True, blur=False)


def test_list_models_filters_by_shipped_weights() -> None:
    """The entries with weights are those shipped in zoo/weights/ or on the Hub: found from the
    files, so that shipping a new entry's weights needs no edit here."""
    from pathlib import Path

    shipped = {p.stem for p in (Path(zoo.__file__).parent / "weights").glob("*.safetensors")}
    with_weights = list_models(with_weights=True)
    assert shipped and shipped <= set(with_weights), (
        f"zoo/weights/ holds {sorted(shipped - set(with_weights))} with no registered entry of that name "
        "with weights: its module not in MODULES of zoo/models/__init__.py, or no WeightsInfo")
    assert all(name in shipped or get_model_info(name).weights.hub_repo for name in with_weights)
    assert "jpeg" in list_models(with_weights=False)  # the identity has nothing to load
    assert sorted(with_weights + list_models(with_weights=False)) == list_models()


def test_identity_entry_returns_its_input() -> None:
    x = torch.rand(1, 3, 17, 23)
    assert torch.equal(zoo.create_model("jpeg")(x), x)


def test_input_conventions_defaults() -> None:
    assert InputConventions() == InputConventions(color="rgb", value_range=(0.0, 1.0),
                                                  pad_multiple=None)


def test_an_entry_pads_to_its_class_s_multiple_unless_it_says_otherwise(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """pad_multiple had to be written twice, on the class and in InputConventions."""
    import zoo.registry

    for table in ("_MODELS", "_REGISTERED_BY"):
        monkeypatch.setattr(zoo.registry, table, dict(getattr(zoo.registry, table)))
    info = register_model(ModelInfo(name="x-pad-test", description="x", architecture="UNet",
                                    arch_args={"channels": [8, 16, 32], "blocks": [1, 1, 1]}))
    assert info.inputs == InputConventions(pad_multiple=8) and get_model_info("x-pad-test") is info
    assert create_model("x-pad-test").pad_multiple == 8
    stated = register_model(ModelInfo(name="x-pad-test-2", description="x", architecture="UNet",
                                      inputs=InputConventions(pad_multiple=4)))
    assert stated.inputs.pad_multiple == 4  # as stated: create_model says it does not fit


def test_load_refuses_an_entry_without_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo import registry
    from zoo.errors import WeightsError

    untrained = dataclasses.replace(get_model_info("unet-l1"), name="x-untrained", weights=None)
    monkeypatch.setitem(registry._MODELS, untrained.name, untrained)
    with pytest.raises(WeightsError, match="x-untrained has no pretrained weights") as exc:
        zoo.load("x-untrained", device="cpu")
    assert "zoo train x-untrained" in str(exc.value)
    # Without a recipe, `zoo train` cannot make its weights: the message does not send one there
    recipeless = dataclasses.replace(untrained, name="x-recipeless", recipe=None)
    monkeypatch.setitem(registry._MODELS, recipeless.name, recipeless)
    with pytest.raises(WeightsError, match="it has no recipe for `zoo train`") as exc:
        zoo.load("x-recipeless", device="cpu")
    assert "zoo train x-recipeless" not in str(exc.value)


def _takes(flag: bool, count: int, pair: tuple[int, float], mode: Literal["relu", "gelu"],
           widths: tuple[int, ...], maybe: int | None, anything: object, bare=1) -> None:
    """A constructor with every kind of hint the checker knows, and two it does not."""


@pytest.mark.parametrize(("arguments", "message"), [
    ({"pair": [1, 0.5, 2]}, r"'pair' must be a list of 2: int, float, got list \[1, 0.5, 2\]"),
    ({"pair": [3]}, "'pair' must be a list of 2"),
    ({"pair": [1.5, 2]}, "'pair' must be a list of 2"),
    ({"mode": "relu6"}, "'mode' must be one of 'relu', 'gelu', got str 'relu6'"),
    ({"mode": 3}, "'mode' must be one of 'relu', 'gelu'"),
    ({"widths": [8, True]}, "'widths' must be a list of int"),
    ({"maybe": "x"}, "'maybe' must be int or null"),
])
def test_the_checker_knows_tuples_by_position_and_literals(arguments: dict, message: str) -> None:
    from zoo.arguments import check_arguments

    with pytest.raises(TypeError, match=message):
        check_arguments(_takes, arguments)


def test_the_checker_takes_what_fits_and_names_what_it_cannot_check() -> None:
    from zoo.arguments import check_arguments

    check_arguments(_takes, {"flag": False, "count": 3, "pair": [1, 2], "mode": "gelu",
                             "widths": [8, 16, 32], "maybe": None, "anything": "x", "bare": 2.5})
    assert unchecked_arguments(_takes, ["flag", "pair", "anything", "bare"]) == ["anything", "bare"]


def test_a_hint_that_does_not_resolve_leaves_only_its_own_argument_unchecked() -> None:
    """A name imported under TYPE_CHECKING made get_type_hints fail, and every argument went
    unchecked (channels=8.5 accepted)."""
    from zoo.arguments import check_arguments

    def build(channels: int, widths: NotImportedHere) -> None:  # noqa: F821
        pass

    build.__annotations__ = {"channels": "int", "widths": "NotImportedHere"}
    with pytest.raises(TypeError, match="'channels' must be int, got float 8.5"):
        check_arguments(build, {"channels": 8.5, "widths": "abc"})
    assert unchecked_arguments(build, ["channels", "widths"]) == ["widths"]


def test_a_constructor_default_that_does_not_fit_its_hint_is_refused_at_registration(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Such a model was built and exported, with a config.json that zoo.load then refused."""
    import zoo.registry
    from zoo.errors import ZooError
    from zoo.registry import register_architecture

    monkeypatch.setattr(zoo.registry, "_ARCHITECTURES", dict(zoo.registry._ARCHITECTURES))

    class BadDefault(Restorer):
        def __init__(self, channels: int = "eight", blocks: int = 2) -> None:  # type: ignore[assignment]
            super().__init__()

    class NoneForStr(Restorer):
        def __init__(self, act: str = None) -> None:  # type: ignore[assignment]
            super().__init__()

    class Fits(Restorer):
        def __init__(self, act: str | None = None, widths: tuple[int, ...] = (8, 16),
                     free=object()) -> None:  # a default without a hint is left alone
            super().__init__()

    for cls, why in [(BadDefault, "argument 'channels' must be int, got str 'eight'"),
                     (NoneForStr, "argument 'act' must be str, got NoneType None")]:
        with pytest.raises(ZooError, match=f"^architecture '{cls.__name__}' of {__name__}: a "
                                           f"constructor default does not fit its type hint "
                                           f"\\({why}\\)$"):
            register_architecture(cls)
        assert cls.__name__ not in zoo.registry._ARCHITECTURES
    assert register_architecture(Fits) is Fits


def test_loading_a_model_leaves_the_caller_s_random_numbers_as_they_were(tmp_path: Path) -> None:
    """Building the network drew its initial weights from the caller's torch generator: a seeded
    script's numbers changed with a zoo.load in between (a library user's audit)."""
    from zoo.hub import load_pretrained, save_pretrained

    torch.manual_seed(0)
    expected = torch.rand(3)
    for load in (lambda: zoo.load("unet-l1", device="cpu"),
                 lambda: zoo.load("arnet-nogan+x8", device="cpu"),
                 lambda: load_pretrained(tmp_path / "saved")):
        if not (tmp_path / "saved").exists():
            save_pretrained(zoo.load("unet-l1", device="cpu"), tmp_path / "saved")
        torch.manual_seed(0)
        load()
        assert torch.equal(torch.rand(3), expected)


def _section(path: Path, heading: str) -> str:
    """The text of ``path`` from the line ``heading`` to the next heading of its level."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    level = heading.split(" ")[0]
    end = text.find(f"\n{level} ", start + len(heading) + 2)
    return text[start:end if end >= 0 else None]


def test_every_entry_is_in_the_docs_and_every_recipe_is_an_entrys() -> None:
    """Past its one module and one line, a new entry goes into the models tables of README.md and
    docs/models.md and, with shipped weights, into training/README.md's record of how they were
    trained (the model card sends readers there); a recipe file names an entry that uses it. A
    newcomer's entry was missing from all three with the suite green."""
    from zoo.registry import get_model_info

    root = Path(__file__).resolve().parents[1]
    tables = {"README.md": _section(root / "README.md", "## Models"),
              "docs/models.md": (root / "docs" / "models.md").read_text(encoding="utf-8")}
    trained = _section(root / "training" / "README.md", "## How the shipped weights were trained")
    from zoo.models import MODULES
    from zoo.registry import architecture_class

    own = {f"zoo.models.{module}" for module in MODULES}  # not the entries tests register
    infos = [info for info in map(get_model_info, zoo.list_models())
             if architecture_class(info.architecture).__module__ in own]
    assert {info.name for info in infos} >= {"arnet-nogan", "gan", "jpeg", "unet-l1"}
    for info in infos:
        for doc, text in tables.items():
            assert f"\n| `{info.name}` |" in text, f"{info.name}: no row in {doc}'s models table"
        if info.weights is not None:
            assert f"`{info.name}`" in trained, (
                f"{info.name}: shipped weights, not in training/README.md's 'How the shipped weights "
                "were trained'")
    recipes = {path.stem for path in (root / "training").glob("*.toml")}
    assert recipes == {info.recipe for info in infos if info.recipe}, (
        "training/*.toml against the entries' ModelInfo(recipe=...)")
