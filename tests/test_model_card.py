"""The model card's usage section: a custom architecture's card names the module loading needs."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable

import pytest
import torch
from torch import nn

from zoo import registry
from zoo.errors import ZooError
from zoo.model_card import model_card
from zoo.models.base import Restorer
from zoo.registry import ModelInfo, get_model_info


class CardDnCNN(Restorer):
    """A stand-in for a researcher's own architecture (its module is set per test)."""

    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        self.out = nn.Conv2d(channels, 3, 1)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.out(self.conv(x))


@pytest.fixture
def registered_in(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], str]:
    """Register a CardDnCNN subclass as if a given module defined it (for this test only)."""

    def register(module: str, name: str) -> str:
        cls = types.new_class(name, (CardDnCNN,))
        cls.__module__ = module
        monkeypatch.setitem(registry._ARCHITECTURES, name, cls)  # noqa: SLF001
        return name

    return register


def _usage(info: ModelInfo) -> str:
    text = model_card(info, repo_id="me/dncnn-s").text
    return text[text.index("## Use with zoo"):text.index("\nFiles: ")]


@pytest.mark.parametrize("name", ["arnet-nogan", "gan", "jpeg", "unet-l1"])
def test_a_builtin_architecture_s_card_has_no_module_note(name: str) -> None:
    info = get_model_info(name)
    usage = _usage(info)
    assert "import zoo\nmodel = zoo.load(\"hf-hub:me/dncnn-s\")" in usage
    assert "not one of the architectures" not in usage
    assert "zoo restore photo.jpg -o photo.png --model hf-hub:me/dncnn-s" in usage


def test_the_card_says_which_jpeg_qualities_the_weights_were_trained_on() -> None:
    """A Hub user restoring a q90 photo with the shipped weights (trained on q5-40) was not told
    that it may come out worse: the README said so, the card did not."""
    row = "| JPEG qualities trained on | {} (a JPEG of a higher quality may come out worse"
    info = get_model_info("arnet-nogan")
    assert row.format("5-40") in model_card(info, released=True).text
    assert "JPEG qualities trained on" not in model_card(info).text  # other weights: unknown
    run = {"recipe": "r.toml", "settings": {"data": {"quality": [20, 60]}}}
    assert row.format("20-60") in model_card(info, training=run).text
    assert "JPEG qualities trained on" not in model_card(info, training={"recipe": "r.toml"}).text


def _table(card: str) -> list[str]:
    """The card's property table, from its header row to the first line that is not a row."""
    lines = card.splitlines()
    start = lines.index("| | |")
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    return lines[start:end]


def test_the_card_table_is_whole_and_its_rows_are_the_known_ones() -> None:
    """Without a known quality range (weights given by file, a republished model) an empty line
    was left inside the table, and GFM showed its last rows as a paragraph of | (a Hub
    publisher's audit)."""
    info = get_model_info("unet-l1")
    for card, qualities in ((model_card(info, released=True).text, True), (model_card(info).text, False)):
        rows = [row.split(" | ")[0].lstrip("| ") for row in _table(card)[2:]]
        assert rows == ["architecture", "arguments", "training recipe",
                        *(["JPEG qualities trained on"] if qualities else []), "license", "input"]
        assert card.count("\n| ") == len(rows) + 1  # the header and the rows: none outside the table


def test_the_card_says_what_the_shipped_weights_were_trained_on_and_how_to_install() -> None:
    """The card named no training data (research datasets under their own terms), no held-out
    caveat and no install line (`pip install zoo` is another project; a Hub publisher's audit)."""
    from zoo.models.base import PROJECT_TRAINING_DATA

    for name in ("arnet-nogan", "gan", "unet-l1"):
        info = get_model_info(name)
        assert info.weights.trained_on == PROJECT_TRAINING_DATA
        card = model_card(info, released=True).text
        assert "## Training data and limitations\n\n338 photographs (this project's" in card
        assert "not held-out test data" in card and "under their authors' own terms" in card
        assert "weights: the runs in the zoo's training/README.md" in card
        assert "`zoo` is the Python package `jpeg-zoo` (`zoo` on PyPI is another project)" in card
        other = model_card(info).text  # weights of the user's own: not the shipped runs' data
        assert "Training data and limitations" not in other and "`jpeg-zoo`" in other
        assert "not yet for a model loaded from the Hub" in card  # what zoo warns of, and where


def test_an_export_s_card_says_which_code_trained_it() -> None:
    """training.json's code record: the zoo version, its commit when there is one, torch's."""
    info = get_model_info("unet-l1")
    code = {"versions": {"zoo": "0.1.0", "torch": "2.14.1"}, "git_commit": "abc123", "date": "d",
            "command": "zoo train unet-l1"}
    card = model_card(info, training={"recipe": "unet-l1.toml", "code": code}).text
    assert "- trained with zoo 0.1.0, commit `abc123`, torch 2.14.1\n" in card
    installed = model_card(info, training={"recipe": "unet-l1.toml", "code": {**code, "git_commit": None}}).text
    assert "- trained with zoo 0.1.0, torch 2.14.1\n" in installed


@pytest.mark.parametrize(("module", "source", "cli_loads"), [
    ("mylab.dncnn", "the package that provides `mylab.dncnn`", False),
    # The documented way to add a model (zoo/models/<family>.py) is not in another zoo either;
    # the zoo that ships it imports its own models, so its command loads the repo.
    ("zoo.models.card_dncnn", "a zoo that ships `zoo.models.card_dncnn`", True),
])
def test_an_architecture_from_another_module_names_that_module(
        registered_in: Callable[[str, str], str], module: str, source: str, cli_loads: bool) -> None:
    arch = registered_in(module, "CardDnCNNOwn")
    usage = _usage(ModelInfo(name="dncnn-s", description="d", architecture=arch))
    assert "`CardDnCNNOwn` is not one of the architectures built into the zoo (ARNet" in usage
    assert f"defined in the module `{module}`" in usage and source in usage
    assert "unknown architecture 'CardDnCNNOwn'" in usage
    assert (f"import {module}  # defines and registers CardDnCNNOwn\nimport zoo\n"
            "model = zoo.load(\"hf-hub:me/dncnn-s\")") in usage
    assert ("--model hf-hub:me/dncnn-s" in usage) is cli_loads
    assert ("cannot import `CardDnCNNOwn`" in usage) is not cli_loads


def test_a_class_from_a_script_or_unregistered_says_so(registered_in: Callable[[str, str], str]) -> None:
    arch = registered_in("__main__", "CardDnCNNScript")
    usage = _usage(ModelInfo(name="dncnn-s", description="d", architecture=arch))
    assert "defined in a script (`__main__`), not in an importable module" in usage
    assert "# first: define and register CardDnCNNScript\nimport zoo" in usage
    unregistered = _usage(ModelInfo(name="x", description="d", architecture="CardNowhere"))
    assert "unknown architecture 'CardNowhere'" in unregistered and "import zoo" in unregistered


def test_builtin_modules_are_the_zoo_s_own() -> None:
    from zoo.model_card import BUILTIN_ARCHITECTURE_MODULES, architecture_module

    from zoo.models import MODULES

    for module in BUILTIN_ARCHITECTURE_MODULES:
        assert module in sys.modules, module
    assert BUILTIN_ARCHITECTURE_MODULES <= {f"zoo.models.{name}" for name in MODULES}
    assert {architecture_module(a) for a in ("ARNet", "Identity", "UNet")} <= BUILTIN_ARCHITECTURE_MODULES


def test_a_name_and_description_add_no_markup_to_the_card() -> None:
    """A hostile config.json's name and description were pasted raw into the card's body."""
    info = ModelInfo(name="evil\n## Run <img src=x onerror=alert(1)>",
                     description="<script>alert(6)</script> [click](http://x) ![i](http://x/t.png)"
                                 "\n\n---\nlicense: other *bold* `code` a_b _c_ #1 | c",
                     architecture="UNet")
    card = model_card(info)
    body = card.text
    assert "<script" not in str(card) and "<img" not in body and "[click](" not in body
    assert "\n# evil \\#\\# Run &lt;img src=x onerror=alert(1)>\n" in body
    assert ("\n&lt;script>alert(6)&lt;/script> \\[click\\](http://x) \\!\\[i\\](http://x/t.png) "
            "--- license: other \\*bold\\* \\`code\\` a_b \\_c\\_ \\#1 \\| c\n") in body
    assert "model_name: 'evil ## Run <img src=x onerror=alert(1)>'\n" in str(card)  # YAML, one line
    plain = model_card(get_model_info("unet-l1")).text
    assert "\n# unet-l1\n\nBaseline: plain residual U-Net (2x2 pixel packing" in plain


@pytest.mark.parametrize(("description", "escaped"), [
    ("> a quote", "\\> a quote"), ("- a list", "\\- a list"), ("+ a list", "\\+ a list"),
    ("=== a rule", "\\=== a rule"), ("1. a numbered list", "1\\. a numbered list"),
    ("12) another", "12\\) another"), ("3 - 2 > 1", "3 - 2 > 1"), ("x & &lt;", "x &amp; &amp;lt;"),
    ("0.5 dB better", "0.5 dB better")])
def test_a_description_that_begins_like_a_block_is_text(description: str, escaped: str) -> None:
    body = model_card(ModelInfo(name="x", description=description, architecture="UNet")).text
    assert body.split("\n")[body.split("\n").index("# x") + 2] == escaped


def test_a_training_json_adds_no_markup_to_the_card() -> None:
    """An export's training.json (a file of the run, shared with the folder) was pasted raw."""
    evil = "<img src=x onerror=alert(1)> [a](http://x)"
    training = {"recipe": "r`x` [a](http://x).toml", "steps": evil,
                "chosen_step": 3, "chosen_stage": evil, "select_metric": "ms_ssim",
                "settings": {"data": {"patch": evil, "batch": 2, "quality": [5, 50]},
                             "stages": {evil: {"steps": 4}}, "max_steps": evil},
                "recipe_changes": [{"step": evil, "changes": [evil, "data.batch: 2 -> 3"]}],
                "validation": {evil: {evil: 1.5, "psnr": evil}}}
    card = model_card(ModelInfo(name="x", description="d", architecture="UNet"),
                      training=training).text
    section = card[card.index("## Training (this export)"):]
    assert "<img" not in card
    assert section.count("&lt;img src=x onerror=alert(1)> \\[a\\](http://x)") == 10
    # the recipe's path is code, whole: its backticks cannot close the span
    assert "- recipe: ``r`x` [a](http://x).toml``; the resolved settings" in section
    assert "| training recipe | ``r`x` [a](http://x).toml`` (see Training below) |" in card
    assert "by ms_ssim" in section and "data.batch: 2 -> 3" in section
    final = model_card(ModelInfo(name="x", description="d", architecture="UNet",
                                 arch_args={"note": "a`b|c"}, paper=evil),
                       training={"recipe": "`r|s.toml", "final_because": evil}).text
    assert "<img" not in final
    assert f"because {_escaped(evil)}" in final and f"| paper | {_escaped(evil)} |" in final
    # an argument's backtick stays inside the span; a '|' would end the table's cell: escaped
    assert '| arguments | ``{"note": "a`b\\|c"}`` |' in final
    assert "- recipe: `` `r|s.toml ``" in final  # a span that begins with a backtick is padded
    assert "| training recipe | `` `r\\|s.toml `` (see Training below) |" in final


def _escaped(evil: str) -> str:
    return evil.replace("<", "&lt;").replace("[", "\\[").replace("]", "\\]")


@pytest.mark.parametrize("license_id", ["<script>alert(6)</script>", "mit\nx: y", "", "-mit"])
def test_a_license_that_is_no_license_id_is_refused(license_id: str) -> None:
    with pytest.raises(ZooError, match=r"^x: license .* is not a license id such as mit or "
                                       r"apache-2.0 \(letters, digits, '.', '-' and '\+'\)$"):
        model_card(ModelInfo(name="x", description="d", architecture="UNet"),
                   license_id=license_id or " ")
    for fine in ("mit", "apache-2.0", "cc-by-nc-4.0", "openrail++", "other", "GPL-3.0"):
        assert f"license: {fine}\n" in str(model_card(get_model_info("unet-l1"), license_id=fine))
