"""The model card (README.md) of a Hub repo of a zoo model: the registry record it was built
from, how to load it, and the ``zoo train`` run that made it."""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError, printable
from zoo.registry import ModelInfo, architecture_class, list_architectures

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

__all__ = ["BUILTIN_ARCHITECTURE_MODULES", "DEFAULT_LICENSE", "TRAINING_FILE", "architecture_module",
           "check_license", "entry_license", "model_card"]

TRAINING_FILE = "training.json"
"""Written by ``zoo train``'s export: the run's recipe, steps, chosen checkpoint and scores."""
DEFAULT_LICENSE = "mit"
"""The zoo's own license, for models whose registry entry names none."""
BUILTIN_ARCHITECTURE_MODULES = frozenset({"zoo.models.arnet", "zoo.models.identity",
                                          "zoo.models.unet"})
"""The modules defining this release's own architectures. Any other architecture (one added in
a module of its own, ``zoo/models/<family>.py`` of a fork included) is unknown to a zoo without
that module, so its card says which module loading it needs. A new built-in family goes here."""


_LICENSE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")
"""An SPDX license id (``mit``, ``apache-2.0``, ``cc-by-nc-4.0``) or the Hub's ``other``."""
_MARKDOWN_SPECIAL = re.compile(r"[\\`*\[\]#|!~]|(?<!\w)_|_(?!\w)")
_HTML_SPECIAL = {"&": "&amp;", "<": "&lt;"}
_BLOCK_START = re.compile(r"^(\d*)([>+=-]|(?<=\d)[.)](?=\s|$))")


def check_license(license_id: str, where: str) -> str:
    """``license_id`` if it looks like an SPDX id (letters, digits, ``.-+``), else a one-line
    ZooError beginning with ``where``: the card's YAML header and table paste it as it is."""
    if not _LICENSE_ID.fullmatch(license_id):
        raise ZooError(f"{where}: license {license_id!r} is not a license id such as "
                       "mit or apache-2.0 (letters, digits, '.', '-' and '+')")
    return license_id


def _one_line(text: str) -> str:
    """``text`` with its line breaks, control characters and runs of spaces as one space."""
    return " ".join("".join(" " if printable(c) != c else c for c in text).split())


def _markdown(text: Any, *, line_start: bool = False) -> str:
    """``text`` as one line of plain Markdown text: what could start HTML, an entity, a link, an
    image, emphasis, a heading or a table cell escaped, so that a saved config's name or
    description, or a ``training.json`` value, adds no markup or script to the card. What cannot
    (``>`` inside a line, ``_`` inside a word: ``ms_ssim``) is left as it is, readable raw.
    ``line_start``: the text begins a line, where a quote, list or rule marker is escaped too."""
    text = "".join(_HTML_SPECIAL.get(c, c) for c in _one_line(str(text)))
    text = _MARKDOWN_SPECIAL.sub(lambda match: "\\" + match.group(), text)
    if not line_start:
        return text
    return _BLOCK_START.sub(lambda match: match.group(1) + "\\" + match.group(2), text, count=1)


def _code(value: Any, *, cell: bool = False) -> str:
    """``value`` as one inline code span: fenced by more backticks than any run inside it (the
    CommonMark rule), so that a recipe path or argument cannot close the span and add markup.
    ``cell``: in a table row, whose ``|`` GFM splits on before it reads code spans (a
    backslash before it there)."""
    text = _one_line(str(value))
    if cell:
        text = text.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def entry_license(info: ModelInfo) -> str:
    """The license of a registry entry's weights (lower case), else the zoo's own."""
    return (info.weights.license if info.weights else DEFAULT_LICENSE).lower()


def architecture_module(architecture: str) -> str | None:
    """The module defining the registered architecture of that name; None when none is registered."""
    if architecture not in list_architectures():  # not the lookup's error: it reads files
        return None
    return architecture_class(architecture).__module__


def _builtin_architectures() -> str:
    return ", ".join(a for a in list_architectures()
                     if architecture_module(a) in BUILTIN_ARCHITECTURE_MODULES)


def _custom_architecture(architecture: str) -> tuple[str, str, bool]:
    """For an architecture not built into this release: a note for the card's usage section, the
    import line its code begins with, and whether the ``zoo`` command can load it (the note and
    the line are empty for a built-in one)."""
    module = architecture_module(architecture)
    if module in BUILTIN_ARCHITECTURE_MODULES:
        return "", "", True
    head = (f"`{architecture}` is not one of the architectures built into the zoo "
            f"({_builtin_architectures()})")
    refusal = f"without it, `zoo.load` refuses with `unknown architecture '{architecture}'`"
    if module is None or module == "__main__":
        where = "a script (`__main__`)" if module else "code this zoo has not registered"
        return (f"{head}: it was defined in {where}, not in an importable module. Loading this "
                f"model needs that class defined and registered (`@register_architecture`) "
                f"first; {refusal}.\n\n", f"# first: define and register {architecture}\n", False)
    in_zoo = module.startswith("zoo.")
    source = (f"a zoo that ships `{module}` (the version or fork it was added in)" if in_zoo
              else f"the package that provides `{module}`")
    return (f"{head}: it is defined in the module `{module}`. Loading this model needs that "
            f"module installed and imported first, which registers `{architecture}`: install "
            f"{source}; {refusal}.\n\n",
            f"import {module}  # defines and registers {architecture}\n", in_zoo)


def model_card(info: ModelInfo, *, repo_id: str | None = None, num_parameters: int | None = None,
               training: dict[str, Any] | None = None, released: bool = False,
               license_id: str | None = None) -> ModelCard:
    """The README.md of a Hub repo, generated from the registry record (and the training run's
    ``training.json``, for a ``zoo train`` export). ``released``: the weights are the entry's
    own, whose training the zoo's training/README.md records. The name and description are
    pasted as plain text."""
    from huggingface_hub import ModelCard, ModelCardData

    license_id = check_license(license_id or entry_license(info), info.name)
    data = ModelCardData(license=license_id, library_name="zoo", model_name=_one_line(info.name),
                         tags=["image-to-image", "jpeg-artifact-removal", "zoo"],
                         pipeline_tag="image-to-image")
    inputs = info.inputs
    # Without a repo, the folder's own weights: the registry name would load the shipped ones.
    load_id = f"hf-hub:{repo_id}" if repo_id else "PATH/TO/THIS/FOLDER"
    trained_with = (training or {}).get("recipe")  # the recipe file this export was trained with
    released_note = ("; these weights: the runs in the zoo's training/README.md, \"How the "
                     "shipped weights were trained\"" if released else "")
    recipe = (f"{_code(trained_with, cell=True)} (see Training below)" if trained_with
              else f"`training/{info.recipe}.toml` (`zoo train {info.recipe}`){released_note}"
              if info.recipe else "unknown (not recorded with these weights)")
    params = f"{num_parameters:,}" if num_parameters is not None else "unknown"
    trained_on = _trained_qualities(info, training, released)
    custom_note, custom_import, cli_loads = _custom_architecture(info.architecture)
    cli = (f"or on the command line: `zoo restore photo.jpg -o photo.png --model {load_id}`"
           if cli_loads else f"The `zoo` command cannot import `{info.architecture}`: load this "
           "model from Python")
    rows = [("architecture", f"{_code(info.architecture, cell=True)} ({params} parameters)"),
            ("arguments", _code(json.dumps(dict(info.arch_args)), cell=True)),
            ("training recipe", recipe)]
    if trained_on:
        rows.append(("JPEG qualities trained on", f"{trained_on[0]}-{trained_on[1]} (a JPEG of a "
                     "higher quality may come out worse than it went in; the zoo warns of one "
                     "for its own weights and a local `zoo train` export, not yet for a model "
                     "loaded from the Hub)"))
    rows += [("license", license_id),
             ("input", f"{inputs.color.upper()}, values in [{inputs.value_range[0]}, "
                       f"{inputs.value_range[1]}], padded to a multiple of {inputs.pad_multiple} "
                       "(any size works)")]
    if info.paper:
        rows.append(("paper", _markdown(info.paper)))
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    data_note = info.weights.trained_on if released and info.weights else ""
    data_section = (f"\n## Training data and limitations\n\n{_markdown(data_note, line_start=True)}\n"
                    if data_note else "")
    body = f"""
# {_markdown(info.name)}

{_markdown(info.description, line_start=True)}

| | |
|---|---|
{table}

The input is a decoded JPEG as an RGB batch `(B, 3, H, W)` in [0, 1]; the output has the
same shape and range.
{data_section}
## Use with zoo

`zoo` is the Python package `jpeg-zoo` (`zoo` on PyPI is another project): install PyTorch,
then `jpeg-zoo` from the zoo's repository or a wheel built from it.

{custom_note}```python
{custom_import}import zoo
model = zoo.load("{load_id}")
restored = model.restore(image)  # PIL image, uint8 array or float tensor
```

{cli}.

Files: `config.json` (architecture and its arguments), `model.safetensors` (float16 weights){
        f", `{TRAINING_FILE}` (the training run)" if training else ""}.
{_training_section(training) if training else ""}"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")


def _trained_qualities(info: ModelInfo, training: dict[str, Any] | None,
                       released: bool) -> tuple[int, int] | None:
    """The JPEG qualities the weights were trained on: the run's record, or for the entry's own
    weights its recipe's; None when unknown."""
    from zoo.quality_warning import recipe_qualities, run_qualities

    if training:
        return run_qualities(training)
    return recipe_qualities(info.recipe) if released and info.recipe else None


def _training_section(training: dict[str, Any]) -> str:
    settings = training.get("settings")
    resolved = (f"; the resolved settings, overrides included, are `settings` in `{TRAINING_FILE}`"
                if settings else "")
    lines = ["", "## Training (this export)", "",
             f"- recipe: {_code(training.get('recipe', '?'))}{resolved}",
             f"- steps: {_markdown(training.get('steps', '?'))}; {_chosen(training)}"]
    if isinstance(settings, dict) and isinstance(settings.get("data"), dict):
        data, stages = settings["data"], settings.get("stages") or {}
        planned = ", ".join(f"{_markdown(name)} {_markdown(s.get('steps', '?'))}"
                            for name, s in stages.items() if isinstance(s, dict))
        cap = f" (capped at {_markdown(settings['max_steps'])})" if settings.get("max_steps") else ""
        processes = training.get("processes", 1)
        per = f" per process, {processes} processes" if isinstance(processes, int) and processes > 1 else ""
        lines.append(f"- data: {_markdown(data.get('patch', '?'))}-px patches, batch "
                     f"{_markdown(data.get('batch', '?'))}{per}, JPEG quality "
                     f"{_markdown(data.get('quality', '?'))}; planned steps: {planned or '?'}{cap}")
    code = training.get("code")
    if isinstance(code, dict) and isinstance(code.get("versions"), dict):
        commit = f", commit {_code(code['git_commit'])}" if code.get("git_commit") else ""
        lines.append(f"- trained with zoo {_markdown(code['versions'].get('zoo', '?'))}{commit}, torch "
                     f"{_markdown(code['versions'].get('torch', '?'))}")
    for change in training.get("recipe_changes") or []:
        changes = "; ".join(_markdown(c) for c in change.get("changes") or [])
        lines.append(f"- resumed after step {_markdown(change.get('step', '?'))} with a changed recipe "
                     f"(the lines above give the last): {changes}")
    for q, scores in (training.get("validation") or {}).items():
        values = ", ".join(f"{_markdown(k)} {_score(v)}" for k, v in scores.items())
        lines.append(f"- validation at q={_markdown(q)}: {values}")
    return "\n".join(lines) + "\n"


def _chosen(training: dict[str, Any]) -> str:
    """What the card says of the exported generator: the checkpoint chosen, or why none was."""
    if training.get("final_because"):
        return (f"exported: the final EMA generator (step {_markdown(training.get('chosen_step', '?'))}),"
                f" because {_markdown(training['final_because'])}")
    return (f"chosen checkpoint: step {_markdown(training.get('chosen_step', '?'))} "
            f"({_markdown(training.get('chosen_stage', '?'))}), by "
            f"{_markdown(training.get('select_metric', '?'))}")


def _score(value: Any) -> str:
    """A validation score for the card; undefined ones (NaN, null) say so."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "undefined"
    return f"{value:.4f}" if isinstance(value, (int, float)) else _markdown(value)
