"""The Hub paths for real, without the internet: a loopback Hub (HF_ENDPOINT) and the HF cache.

Covers hf_hub_download downloading, caching and verifying through the zoo, ``zoo.load`` of
``hf-hub:ORG/NAME[@rev]``, folders and files, the generated repo folder, and ``zoo push``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest
import torch
from hub_server import FakeHub, use_endpoint
from huggingface_hub import ModelCard, constants
from torch import nn

import zoo
from zoo.cli import main
from zoo.errors import WeightsError, ZooError
from zoo.hub import load_pretrained, push_to_hub, save_pretrained
from zoo.loading import load_model
from zoo.models.base import Restorer
from zoo.registry import ModelInfo, WeightsInfo, register_architecture
from zoo.pretrained import load_entry_weights, resolve_weights
from zoo.weights import load_weights, save_weights, sha256_file


@register_architecture
class TinyHubNet(Restorer):
    pad_multiple = 2

    def __init__(self, channels: int = 4, residual: bool = True) -> None:
        super().__init__(channels=channels, residual=residual)
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        self.out = nn.Conv2d(channels, 3, 1)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        y = self.out(torch.relu(self.conv(x)))
        return x + y if self.config["residual"] else y


def _model(seed: int = 0, channels: int = 4) -> TinyHubNet:
    torch.manual_seed(seed)
    return TinyHubNet(channels)


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A loopback Hub that huggingface_hub talks to, an empty HF cache, no token."""
    cache = tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    with FakeHub() as server:
        use_endpoint(monkeypatch, server.endpoint)
        yield server


def _upload_folder(server: FakeHub, repo: str, folder: Path) -> str:
    return server.add_repo(repo, {p.name: p.read_bytes() for p in folder.iterdir()})


def _same_outputs(a: nn.Module, b: nn.Module) -> bool:
    x = torch.rand(1, 3, 13, 10)
    with torch.no_grad():
        return torch.allclose(a.eval()(x), b.eval()(x), atol=5e-3)


# --- weights through hf_hub_download ------------------------------------------------------------

def test_hf_hub_download_downloads_caches_and_is_verified(hub: FakeHub, tmp_path: Path) -> None:
    sha = save_weights(_model(), tmp_path / "w.safetensors")
    data = (tmp_path / "w.safetensors").read_bytes()
    commit = hub.add_repo("zoo-test/tiny", {"tiny.safetensors": data})
    info = ModelInfo(name="tiny-hub", description="d", architecture="TinyHubNet",
                     weights=WeightsInfo(file="tiny.safetensors", sha256=sha,
                                         hub_repo="zoo-test/tiny", revision="main"))
    first = resolve_weights(info)
    assert first.source == "hub"
    assert first.path is not None and first.path.read_bytes() == data
    assert f"snapshots/{commit}" in str(first.path)
    assert hub.count("GET", "/resolve/") == 1

    second = resolve_weights(info)  # the cached blob is reused: a HEAD, no second download
    assert second.path == first.path
    assert hub.count("GET", "/resolve/") == 1

    constants.HF_HUB_OFFLINE = True  # restored by the fixture's monkeypatch
    offline = resolve_weights(info)
    assert (offline.source, offline.path) == ("hub cache", first.path)


def test_a_cache_that_cannot_be_written_is_named_not_the_network(
        hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_HOME on a read-only disk, or under a file: the error said "run again, or set
    HF_HUB_OFFLINE=1", neither of which helps."""
    sha = save_weights(_model(), tmp_path / "w.safetensors")
    hub.add_repo("zoo-test/tiny", {"tiny.safetensors": (tmp_path / "w.safetensors").read_bytes()})
    info = ModelInfo(name="tiny-hub", description="d", architecture="TinyHubNet",
                     weights=WeightsInfo(file="tiny.safetensors", sha256=sha,
                                         hub_repo="zoo-test/tiny", revision="main"))
    (tmp_path / "afile").write_text("")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "afile" / "hub"))
    with pytest.raises(WeightsError, match=r"^downloading zoo-test/tiny@main/tiny.safetensors "
                                           r"failed: the Hugging Face cache cannot be used "
                                           r"\(.*\); point HF_HOME \(or HF_HUB_CACHE\) at a folder"):
        resolve_weights(info)
    # HF_HOME under a file: huggingface_hub reads its token there first (a NotADirectoryError
    # came out of zoo.load raw).
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "afile" / "token"))
    with pytest.raises(WeightsError, match=r"^zoo-test/tiny@main/tiny.safetensors: the Hugging "
                                           r"Face cache cannot be used \(.*afile/token'\); point"):
        resolve_weights(info)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # the cached copy's read meets it too
    with pytest.raises(WeightsError, match=r"^zoo-test/tiny@main/tiny.safetensors: the Hugging "
                                           r"Face cache cannot be used"):
        resolve_weights(info)
    # A read-only cache (the suite may run as root, who writes anywhere): huggingface_hub's error.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    import huggingface_hub

    def read_only(*args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(tmp_path / "ro" / "hub"))

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", read_only)
    with pytest.raises(WeightsError, match=r"^downloading zoo-test/tiny@main/tiny.safetensors "
                                           r"failed: the Hugging Face cache cannot be used"):
        resolve_weights(info)


def test_pinned_revision_and_served_corruption(hub: FakeHub, tmp_path: Path) -> None:
    sha_old = save_weights(_model(1), tmp_path / "old.safetensors")
    old = hub.add_repo("zoo-test/pinned", {"w.safetensors": (tmp_path / "old.safetensors").read_bytes()})
    save_weights(_model(2), tmp_path / "new.safetensors")
    hub.add_repo("zoo-test/pinned", {"w.safetensors": (tmp_path / "new.safetensors").read_bytes()})

    def info(revision: str) -> ModelInfo:
        return ModelInfo(name="pinned", description="d", architecture="TinyHubNet",
                         weights=WeightsInfo(file="w.safetensors", sha256=sha_old,
                                             hub_repo="zoo-test/pinned", revision=revision))

    pinned = resolve_weights(info(old))
    assert pinned.source == "hub" and sha256_file(pinned.path) == sha_old
    assert str(pinned) == f"hub: zoo-test/pinned@{old}/w.safetensors (commit {old[:12]})"
    latest = resolve_weights(info("main"))  # which weights `main` gave is recorded
    assert str(latest).startswith("hub: zoo-test/pinned@main/w.safetensors (commit ")
    heads = hub.count("HEAD", "/resolve/")
    again = resolve_weights(info(old))  # a cached commit is immutable: the Hub is not asked
    assert (again.source, again.path) == ("hub cache", pinned.path)
    assert hub.count("HEAD", "/resolve/") == heads
    # main moved on: its file is another version than the registry's sha256 -> refused.
    with pytest.raises(WeightsError, match="does not match.*the Hub's zoo-test/pinned@main holds "
                                           "other weights") as exc:
        load_entry_weights(TinyHubNet(), info("main"))
    assert "\n" not in str(exc.value)


def test_missing_hub_repo_falls_back_to_nothing(hub: FakeHub) -> None:
    info = ModelInfo(name="ghost", description="d", architecture="TinyHubNet",
                     weights=WeightsInfo(file="w.safetensors", sha256="0" * 64,
                                         hub_repo="zoo-test/ghost"))
    with pytest.raises(WeightsError, match="neither in the Hugging Face cache or Hub repo zoo-test/ghost"):
        resolve_weights(info)


# --- repo folders and zoo.load ------------------------------------------------------------------

def test_save_pretrained_writes_config_weights_and_card(tmp_path: Path) -> None:
    folder = save_pretrained(_model(), tmp_path / "repo", repo_id="org/tiny")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "TinyHubNet"
    assert config["arguments"] == {"channels": 4, "residual": True}
    assert config["zoo_version"] == zoo.__version__
    assert config["input_conventions"]["color"] == "rgb"
    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "zoo"
    assert card.data.license == "mit"
    assert 'zoo.load("hf-hub:org/tiny")' in card.text
    assert "TinyHubNet" in card.text


def test_model_card_from_a_registry_entry(tmp_path: Path) -> None:
    from zoo.hub import model_card

    info = ModelInfo(name="tiny-entry", description="A tiny test restorer.", architecture="TinyHubNet",
                     recipe="tiny-entry", weights=WeightsInfo(file="f", sha256="0" * 64,
                                                             license="Apache-2.0"))
    card = model_card(info, repo_id="org/tiny-entry", num_parameters=1234)
    assert card.data.license == "apache-2.0"
    for text in ("A tiny test restorer.", "training/tiny-entry.toml", "1,234 parameters", "RGB"):
        assert text in card.text


def test_load_folder_file_and_strictness(tmp_path: Path) -> None:
    original = _model(3)
    folder = save_pretrained(original, tmp_path / "repo")
    for spec in (folder, folder / "model.safetensors"):
        loaded = load_model(str(spec), device="cpu")
        assert isinstance(loaded, TinyHubNet) and not loaded.training
        assert loaded.info is not None and loaded.info.inputs.pad_multiple == 2
        assert _same_outputs(loaded, original)
    config = json.loads((folder / "config.json").read_text())
    config["arguments"]["channels"] = 8
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match=r"does not fit the network .* 'conv.bias': file \(4,\), "
                                           r"network \(8,\)"):
        load_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({"architecture": "NoSuchNet"}))
    with pytest.raises(ZooError, match="NoSuchNet.*; import the module that registers it first"):
        load_pretrained(folder)


def test_load_hf_hub_repo_through_the_server(hub: FakeHub, tmp_path: Path) -> None:
    v1, v2 = _model(4), _model(5)
    first = _upload_folder(hub, "someone/tiny", save_pretrained(v1, tmp_path / "v1"))
    _upload_folder(hub, "someone/tiny", save_pretrained(v2, tmp_path / "v2"))

    latest = zoo.load("hf-hub:someone/tiny", device="cpu")
    assert isinstance(latest, TinyHubNet) and not latest.training
    assert _same_outputs(latest, v2)
    assert "someone/tiny@main" in latest.weights_source
    pinned = zoo.load(f"hf-hub:someone/tiny@{first}", device="cpu")
    assert _same_outputs(pinned, v1)
    # Two weights files, but one config.json: both versions have the same, and the cache is
    # content-addressed (its ETag is the sha256), so it is downloaded once.
    assert hub.count("GET", "/resolve/") == 3

    # Which of the Hub's 404s it was, and what to do (a repo, a revision and a file all read
    # "HTTP 404" with one advice; a Hub publisher's audit).
    with pytest.raises(WeightsError, match=r"^cannot get config.json of Hub repo someone/absent@main "
                                           r"\(the Hub answered HTTP 404: no such repo, or a private "
                                           r"one\): check the repo id, or log in \(`hf auth login`"):
        zoo.load("hf-hub:someone/absent")
    with pytest.raises(WeightsError, match=r"^cannot get config.json of Hub repo someone/tiny@v9.9 "
                                           r"\(the Hub answered HTTP 404: no such revision\): check "
                                           r"the revision 'v9.9' \(after the @\)$"):
        zoo.load("hf-hub:someone/tiny@v9.9")
    hub.add_repo("someone/pickled", {"config.json": (tmp_path / "v1" / "config.json").read_bytes()})
    with pytest.raises(WeightsError, match=r"^cannot get model.safetensors of Hub repo "
                                           r"someone/pickled@main \(the Hub answered HTTP 404: no such "
                                           r"file in the repo\): the repo holds no model.safetensors"):
        zoo.load("hf-hub:someone/pickled")  # which of the two files is missing is said


def test_a_damaged_file_in_a_hub_repo_is_said_to_be_the_repo_s(hub: FakeHub, tmp_path: Path) -> None:
    """A repo's own truncated model.safetensors was answered "delete it and download or export
    it again", which brings the same file back (a Hub publisher's audit)."""
    folder = save_pretrained(_model(3), tmp_path / "m")
    weights = (folder / "model.safetensors").read_bytes()
    hub.add_repo("someone/cut", {"config.json": (folder / "config.json").read_bytes(),
                                 "model.safetensors": weights[: len(weights) // 2]})
    with pytest.raises(WeightsError, match=r"is truncated .*; that is the file someone/cut@main "
                                           r"holds, as the Hub sent it: ask the repo's owner, or load "
                                           r"another revision \(hf-hub:someone/cut@REVISION\)$"):
        zoo.load("hf-hub:someone/cut")
    (tmp_path / "local").mkdir()  # a local folder's damaged file: the old advice holds
    (tmp_path / "local" / "config.json").write_bytes((folder / "config.json").read_bytes())
    (tmp_path / "local" / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(WeightsError, match=r"delete it and download or export it again$"):
        zoo.load(tmp_path / "local")


@pytest.mark.parametrize(("etag", "commit"), [("../../../../outside", "a" * 40), ("b" * 64, "../x"),
                                              ("b" * 64 + "/../../outside", "a" * 40),
                                              ("a" * 40, "c" * 40 + "/.."), ("B" * 64, "a" * 40)])
def test_a_hub_answer_naming_a_path_is_refused_before_downloading(
        hub: FakeHub, monkeypatch: pytest.MonkeyPatch, etag: str, commit: str) -> None:
    """huggingface_hub names the cached file by the answer's ETag and its folder by the commit,
    unchecked: a hostile endpoint's ETag "../../x" was written outside the cache (a Hub
    publisher's audit). Only hashes, as the Hub's are, are taken."""
    import huggingface_hub
    from huggingface_hub.file_download import HfFileMetadata

    answer = HfFileMetadata(commit_hash=commit, etag=etag, location="", size=1, xet_file_data=None)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", lambda *a, **k: answer)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: pytest.fail("downloaded"))
    with pytest.raises(WeightsError, match=r"the Hub's answer names the file .* not hashes as the "
                                           r"Hub's are; refused \(is HF_ENDPOINT a Hub you trust\?\)$"):
        zoo.load("hf-hub:someone/evil")


@pytest.mark.parametrize("etag", ["a" * 40, "b" * 64])
def test_the_hub_s_own_hashes_are_taken(hub: FakeHub, monkeypatch: pytest.MonkeyPatch, etag: str) -> None:
    """A small file's ETag is its git blob's sha1 (40 hex: the real Hub's config.json), a large
    one's its sha256 (64): both go on to the download (here a stand-in that says it was reached)."""
    import huggingface_hub
    from huggingface_hub.file_download import HfFileMetadata

    answer = HfFileMetadata(commit_hash="c" * 40, etag=etag, location="", size=1, xet_file_data=None)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", lambda *a, **k: answer)

    def reached(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("the download was reached")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", reached)
    with pytest.raises(WeightsError, match=r"failed \(the download was reached\)"):
        zoo.load("hf-hub:someone/fine")


def test_a_garbled_file_in_a_hub_repo_is_said_to_be_the_repo_s(hub: FakeHub, tmp_path: Path) -> None:
    """As a truncated one: its header unreadable, not its length (a mutation audit's)."""
    folder = save_pretrained(_model(3), tmp_path / "m")
    weights = bytearray((folder / "model.safetensors").read_bytes())
    weights[8:16] = b"\xff" * 8  # the JSON header's first bytes
    hub.add_repo("someone/garbled", {"config.json": (folder / "config.json").read_bytes(),
                                     "model.safetensors": bytes(weights)})
    with pytest.raises(WeightsError, match=r"; that is the file someone/garbled@main holds, as the "
                                           r"Hub sent it: ask the repo's owner"):
        zoo.load("hf-hub:someone/garbled")


def test_the_hub_s_answers_get_their_own_advice() -> None:
    """A gated repo, and a failure the Hub did not name, each with what to do."""
    from types import SimpleNamespace

    from zoo.hub import _fetch_advice
    from zoo.pretrained import hub_answer

    gated = SimpleNamespace(response=SimpleNamespace(status_code=401, headers={"X-Error-Code": "GatedRepo"}))
    assert hub_answer(gated) == "the Hub answered HTTP 401: a gated repo"
    assert _fetch_advice(hub_answer(gated), "config.json", "main") == (
        "ask for access on the Hub, then log in (`hf auth login` or HF_TOKEN)")
    plain = SimpleNamespace(response=SimpleNamespace(status_code=500, headers={}))
    assert hub_answer(plain) == "the Hub answered HTTP 500"
    for why in (hub_answer(plain), "the Hub is unreachable (ConnectError)"):
        assert _fetch_advice(why, "config.json", "main") == (
            "check the repo id, that it holds a zoo model, and your connection")


def test_the_push_waits_twenty_seconds_for_the_hub_s_first_answer() -> None:
    """The constant the docs name (a mutation audit's: the test above sets its own)."""
    import zoo.hub_push

    assert zoo.hub_push.FIRST_ANSWER_TIMEOUT_S == 20.0
    assert "first request within 20 s" in (Path(__file__).parents[1] / "docs" / "weights.md").read_text()


def test_registry_names_and_bad_specs() -> None:
    model = load_model("jpeg")
    assert not model.training and model.name == "jpeg"
    with pytest.raises(ZooError, match="unknown model 'no-such-model'.*jpeg"):
        load_model("no-such-model")
    with pytest.raises(ZooError, match="hf-hub:ORG/NAME"):
        load_model("hf-hub:only-one-part")


@pytest.mark.parametrize("spec, said", [
    ("arnet_nogan", "unknown model 'arnet_nogan': did you mean 'arnet-nogan'? not a registry name"),
    ("ARNET-NOGAN", "unknown model 'ARNET-NOGAN': did you mean 'arnet-nogan'?"),
    ("unet-l2", "unknown model 'unet-l2': did you mean 'unet-l1'?"),
    ("gan+X8", "unknown model 'gan+X8': did you mean 'gan+x8'?"),
    ("walrus", "unknown model 'walrus': not a registry name ("),  # other tests register more
    ("runs/export", "runs/export: no such file or folder"),
    ("model.safetensors", "model.safetensors: no such file or folder"),
])
def test_a_name_that_is_no_model_says_what_was_probably_meant(spec: str, said: str) -> None:
    with pytest.raises(ZooError) as caught:
        zoo.load(spec)
    assert str(caught.value).startswith(said)
    assert "did you mean" not in str(caught.value) or "?" in said


def test_a_folder_without_config_json_or_a_non_string_is_not_an_unknown_model(tmp_path: Path) -> None:
    with pytest.raises(ZooError, match=rf"^{tmp_path}: this folder holds no config.json; a saved "
                                       r"model is a folder with config.json and model.safetensors"):
        zoo.load(tmp_path)
    with pytest.raises(TypeError, match="^a model is named by a str .*, not NoneType$"):
        zoo.load(None)  # type: ignore[arg-type]
    with pytest.raises(ZooError, match="^the model's name is empty; name a registry entry"):
        zoo.load("")  # not the current folder, even when it holds a saved model


# --- zoo push -----------------------------------------------------------------------------------

def test_push_dry_run_writes_the_folder_only(hub: FakeHub, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    source = save_pretrained(_model(6), tmp_path / "src")
    out = tmp_path / "dry"
    assert main(["push", str(source), "--repo", "org/dry", "--dry-run", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert _same_outputs(load_model(str(out), device="cpu"), _model(6))
    assert "nothing uploaded" in capsys.readouterr().out
    assert not any(method == "POST" for method, _ in hub.requests)


def test_push_dry_run_into_a_folder_of_the_user_s_own_files_changes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Its README.md and config.json were replaced and its training.json deleted, without a word."""
    source = save_pretrained(_model(6), tmp_path / "src")
    mine = tmp_path / "mine"
    mine.mkdir()
    own = {"README.md": "# my project\n", "config.json": '{"lr": 0.1}\n', "training.json": "{}\n"}
    for name, text in own.items():
        (mine / name).write_text(text)
    assert main(["push", str(source), "--repo", "org/dry", "--dry-run", str(mine)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{mine} is not empty and not a folder a zoo model was saved " \
        "in (its config.json is not the zoo's); save into a new or empty folder" in err
    assert {p.name: p.read_text() for p in mine.iterdir()} == own
    (mine / "config.json").unlink()
    with pytest.raises(ZooError, match=r"\(it holds no config.json\)"):
        save_pretrained(_model(6), mine)
    (mine / "notes.txt").write_text("x")
    with pytest.raises(ZooError, match=r"\(it holds notes.txt\)"):
        save_pretrained(_model(6), mine)


def test_a_saved_folder_s_card_linked_elsewhere_is_not_written_through(tmp_path: Path) -> None:
    """README.md a symbolic link to another file: the card became that file's content."""
    folder = save_pretrained(_model(6), tmp_path / "repo")
    elsewhere = tmp_path / "notes.md"
    elsewhere.write_text("my notes\n")
    (folder / "README.md").unlink()
    (folder / "README.md").symlink_to(elsewhere)
    with pytest.raises(ZooError, match=r"\(it holds README.md \(a symbolic link\)\)"):
        save_pretrained(_model(7), folder)
    assert elsewhere.read_text() == "my notes\n" and (folder / "README.md").is_symlink()

def test_push_uploads_through_huggingface_hub(hub: FakeHub, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    source = save_pretrained(_model(7), tmp_path / "src")
    import zoo.loading

    with monkeypatch.context() as patch:  # refused before the model is loaded (or downloaded)
        patch.setattr(zoo.loading, "load_model", lambda *a, **k: pytest.fail("loaded"))
        assert main(["push", str(source), "--repo", "org/pushed", "--private"]) == 2
    assert capsys.readouterr().err.startswith("error: no Hugging Face token: run `hf auth login`")
    assert "org/pushed" not in hub.repos  # refused before anything was loaded or asked
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    assert main(["push", str(source), "--repo", "org/pushed", "--private"]) == 0
    assert "pushed" in capsys.readouterr().out
    repo = hub.repos["org/pushed"]
    assert repo.private
    assert sorted(repo.files) == ["README.md", "config.json", "model.safetensors"]
    assert hub.count("POST", "/api/models/org/pushed/commit/main") == 1
    # What was pushed loads back from the Hub.
    assert _same_outputs(zoo.load("hf-hub:org/pushed", device="cpu"), _model(7))


def test_a_hub_that_never_answers_ends_the_push_in_one_line(tmp_path: Path, hub: FakeHub,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A Hub that took the connection and never answered hung zoo push for good (a Hub
    publisher's audit: still waiting after 263 s): the first request is timed."""
    import socket
    import time

    import zoo.hub_push

    silent = socket.create_server(("127.0.0.1", 0))  # accepts (the backlog), never answers
    monkeypatch.setattr(zoo.hub_push, "FIRST_ANSWER_TIMEOUT_S", 0.5)
    use_endpoint(monkeypatch, f"http://127.0.0.1:{silent.getsockname()[1]}")
    start = time.monotonic()
    try:
        with pytest.raises(ZooError, match=r"^push to org/silent failed: .*the Hub could not be "
                                           r"reached: check your connection"):
            push_to_hub(_model(8), "org/silent", token="hf_test")
    finally:
        silent.close()
    assert time.monotonic() - start < 10


def test_push_while_offline_is_refused_before_the_model_loads(hub: FakeHub, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """With HF_HUB_OFFLINE set a push loaded the model, then said "check your connection" (a
    Hub publisher's audit)."""
    import zoo.loading

    monkeypatch.setenv("HF_TOKEN", "hf_test")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(zoo.loading, "load_model", lambda *a, **k: pytest.fail("loaded"))
    assert main(["push", "unet-l1", "--repo", "org/offline"]) == 2
    assert capsys.readouterr().err.startswith("error: HF_HUB_OFFLINE is set: a push needs the Hub; "
                                              "unset it (or write the files only: `zoo push --dry-run DIR`")
    assert "org/offline" not in hub.repos


def test_push_api_function_and_bad_repo(hub: FakeHub, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ZooError, match=r"^no Hugging Face token: run `hf auth login` or set "
                                       r"HF_TOKEN \(or write the files only"):
        push_to_hub(_model(8), "org/api")  # the Hub's 401 came after the model was saved
    assert "org/api" not in hub.repos
    commit = push_to_hub(_model(8), "org/api", token="hf_test")
    assert commit.oid == hub.repos["org/api"].head
    assert "hf-hub:org/api" in hub.repos["org/api"].files["README.md"].decode()
    assert main(["push", "jpeg", "--repo", "not-a-repo-id"]) == 2


def test_push_refuses_random_weights_and_takes_a_weights_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry with parameters and no weights (registered for this test only: the registry's
    own entries all have weights, so the test skipped itself before) is refused random init."""
    import zoo.registry

    name = "tiny-untrained"
    monkeypatch.setitem(zoo.registry._MODELS, name, ModelInfo(
        name=name, description="an entry without weights", architecture="TinyHubNet",
        arch_args={"channels": 4, "residual": True},
        inputs=zoo.registry.InputConventions(pad_multiple=TinyHubNet.pad_multiple)))
    assert main(["push", name, "--repo", "org/x", "--dry-run", str(tmp_path / "refused")]) == 2
    assert not (tmp_path / "refused").exists()

    trained = zoo.create_model(name)
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.01)
    save_weights(trained, tmp_path / "trained.safetensors")
    out = tmp_path / "dry"
    assert main(["push", name, "--repo", "org/x", "--weights", str(tmp_path / "trained.safetensors"),
                 "--dry-run", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["name"] == name
    assert zoo.get_model_info(name).description in ModelCard.load(out / "README.md").text
    assert _same_outputs(load_model(str(out), device="cpu"), trained)


@pytest.mark.parametrize("field,value,message", [
    ("arguments", [8, 2], "'arguments' must be an object"),
    ("arguments", {"channels": -1, "residual": True}, "arguments do not fit TinyHubNet"),
    ("input_conventions", "rgb", "input_conventions must be an object"),
    ("input_conventions", {"colour": "rgb"}, "unknown keys \\['colour'\\]"),
    ("input_conventions", {"value_range": 5}, "value_range must be \\[0, 1\\]"),
    ("input_conventions", {"value_range": [0, 255]}, "value_range must be \\[0, 1\\]"),
    ("input_conventions", {"color": "y"}, "color 'y' is not supported"),
    ("input_conventions", {"pad_multiple": 7}, "pad_multiple is 7 but the network pads to 2"),
    ("arguments", {"channels": 1e999}, "arguments do not fit TinyHubNet \\(argument 'channels' must be int, got float inf"),
    ("arguments", {"residual": "no"}, "arguments do not fit TinyHubNet \\(argument 'residual' must be bool, got str 'no'"),
    ("arguments", {"channels": 4.0}, "argument 'channels' must be int, got float 4.0"),
    ("input_conventions", {"pad_multiple": 0}, "pad_multiple must be a positive integer"),
])
def test_damaged_config_is_one_line_naming_the_file(tmp_path: Path, field: str, value: object,
                                                    message: str) -> None:
    folder = save_pretrained(_model(), tmp_path / "repo")
    config = json.loads((folder / "config.json").read_text())
    config[field] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ZooError, match=message) as exc:
        load_pretrained(folder)
    assert str(exc.value).startswith(str(folder / "config.json")) and "\n" not in str(exc.value)


def test_an_export_keeps_its_training_record_when_pushed(tmp_path: Path) -> None:
    training = {"recipe": "tiny-entry", "steps": 12, "chosen_step": 10, "chosen_stage": "train",
                "select_metric": "psnr", "validation": {"10": {"psnr": 27.5}}}
    export = save_pretrained(_model(), tmp_path / "export", training=training)
    card = (export / "README.md").read_text()
    assert 'zoo.load("PATH/TO/THIS/FOLDER")' in card  # its own weights, not the registry's
    assert "`tiny-entry` (see Training below)" in card and "validation at q=10: psnr 27.5000" in card
    config = json.loads((export / "config.json").read_text())
    assert config["license"] == ModelCard.load(export / "README.md").data.license == "mit"
    out = tmp_path / "dry"
    assert main(["push", str(export), "--repo", "org/x", "--dry-run", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "config.json", "model.safetensors", "training.json"]
    assert json.loads((out / "training.json").read_text()) == training
    assert "## Training (this export)" in (out / "README.md").read_text()


def test_push_says_which_of_this_machine_s_paths_a_training_record_publishes(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A run records its data folders as it read them (absolute, a home folder's user name in
    them): `zoo push` published them without a word."""
    training = {"recipe": "/home/ann/recipes/r.toml",
                "settings": {"data": {"train": ["/home/ann/photos", "rel/data"], "val": "C:\\val"}},
                "recipe_changes": [{"step": 5, "changes": ["data.train: ['/home/ann/old'] -> "
                                                           "['/home/ann/photos']", "lr: 0.1 -> 0.2 / 2"]}]}
    export = save_pretrained(_model(), tmp_path / "export", training=training)
    assert main(["push", str(export), "--repo", "org/x", "--dry-run", str(tmp_path / "dry")]) == 0
    assert ("its training.json names this machine's paths, published as they are: "
            "/home/ann/recipes/r.toml, /home/ann/photos, C:\\val (and 1 more)\n") in capsys.readouterr().out
    from zoo.hub import local_paths

    assert local_paths(["data.train: ['/a'] -> ['/a', '/b']", "~/x", "a:b", "C:\\", "rel/x"]) == [
        "/a", "/b", "~/x", "C:\\"]  # once each; a home-relative path; no a:b
    three = save_pretrained(_model(), tmp_path / "three", training={
        "recipe": "/home/ann/\x1b[31mr.toml", "settings": {"data": {"train": ["/a", "/b"]}}})
    assert main(["push", str(three), "--repo", "org/x", "--dry-run", str(tmp_path / "dry3")]) == 0
    said = capsys.readouterr().out
    assert "published as they are: /home/ann/\\x1b[31mr.toml, /a, /b\n" in said  # all three, escaped
    assert "\x1b" not in said
    plain = save_pretrained(_model(), tmp_path / "plain", training={"recipe": "training/r.toml"})
    assert main(["push", str(plain), "--repo", "org/x", "--dry-run", str(tmp_path / "dry2")]) == 0
    assert "this machine's paths" not in capsys.readouterr().out


def test_a_saved_model_published_again_keeps_its_license_and_run_record(
        hub: FakeHub, tmp_path: Path) -> None:
    """From its Hub repo or its weights file, a model published again lost its training.json
    (only a folder's was read) and its license (the zoo's own took its place)."""
    training = {"recipe": "tiny-entry", "steps": 12, "chosen_step": 10, "chosen_stage": "train",
                "select_metric": "psnr"}
    export = save_pretrained(_model(), tmp_path / "export", training=training)
    config = json.loads((export / "config.json").read_text())
    (export / "config.json").write_text(json.dumps({**config, "license": "Apache-2.0"}))
    _upload_folder(hub, "someone/tiny", export)
    for source in ("hf-hub:someone/tiny", str(export / "model.safetensors"), str(export)):
        out = tmp_path / "dry" / source.replace("/", "_").replace(":", "_")
        assert main(["push", source, "--repo", "org/again", "--dry-run", str(out)]) == 0
        assert json.loads((out / "training.json").read_text()) == training, source
        assert json.loads((out / "config.json").read_text())["license"] == "apache-2.0", source
        assert ModelCard.load(out / "README.md").data.license == "apache-2.0", source


def test_push_prints_paths_as_they_are(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A path holding ``[/x]`` is not rich markup (it was a MarkupError traceback)."""
    export = save_pretrained(_model(), tmp_path / "p[" / "x]" / "export")
    assert main(["push", str(export), "--repo", "org/x", "--dry-run", str(tmp_path / "p[" / "x]" / "dry")]) == 0
    assert f"into {tmp_path}/p[/x]/dry; nothing uploaded" in capsys.readouterr().out


def test_an_undefined_validation_score_is_json_null_and_said_in_the_card(tmp_path: Path) -> None:
    """A NaN score (MS-SSIM on small crops) was written as a bare ``NaN``, which is not JSON:
    strict readers (JavaScript, jq) refused training.json."""
    training = {"recipe": "tiny-entry", "validation": {"10": {"psnr": 27.5, "ms_ssim": float("nan")}},
                "settings": {"limits": [float("inf"), 1.0]}}
    export = save_pretrained(_model(), tmp_path / "export", training=training)

    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    saved = json.loads((export / "training.json").read_text(), parse_constant=refuse)
    assert saved["validation"]["10"] == {"psnr": 27.5, "ms_ssim": None}
    assert saved["settings"]["limits"] == [None, 1.0]
    assert "validation at q=10: psnr 27.5000, ms_ssim undefined" in (export / "README.md").read_text()
    out = tmp_path / "dry"  # the card written again from the saved record says the same
    assert main(["push", str(export), "--repo", "org/x", "--dry-run", str(out)]) == 0
    assert "ms_ssim undefined" in (out / "README.md").read_text()


def test_push_dry_run_into_an_unwritable_place_is_one_line(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Said before the model loads, as restore's --out-dir says it (it was "cannot write there
    (Not a directory)", after loading)."""
    (tmp_path / "a-file").write_text("x")
    source = save_pretrained(_model(), tmp_path / "src")
    for target in (tmp_path / "a-file", tmp_path / "a-file" / "x"):
        assert main(["push", str(source), "--repo", "org/x", "--dry-run", str(target)]) == 2
        out, err = capsys.readouterr()
        assert err == f"error: --dry-run {target}: {tmp_path / 'a-file'} is a file, not a folder\n"
        assert "weights from" not in out


def test_card_shows_the_arguments_the_model_was_built_with(tmp_path: Path) -> None:
    """A recipe's model.args may differ from the entry's: the card shows what was built."""
    model = zoo.create_model("unet-l1", blocks=[1, 1, 1])
    folder = save_pretrained(model, tmp_path / "repo")
    assert '"blocks": [1, 1, 1]' in (folder / "README.md").read_text()
    trained = save_pretrained(model, tmp_path / "trained", training={"recipe": "/me/my-unet.toml"})
    card = (trained / "README.md").read_text()
    assert "| training recipe | `/me/my-unet.toml` (see Training below) |" in card  # not the entry's own


def _built_devices(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The device of every Conv2d built from now on."""
    built: list[str] = []
    real_init = nn.Conv2d.__init__

    def spy(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        real_init(self, *args, **kwargs)
        built.append(self.weight.device.type)

    monkeypatch.setattr(nn.Conv2d, "__init__", spy)
    return built


def test_a_config_describing_a_huge_network_is_refused_before_it_is_built(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shapes are compared on torch's meta device: no memory is allocated for the claimed size."""
    folder = save_pretrained(_model(), tmp_path / "repo")
    config = json.loads((folder / "config.json").read_text())
    config["arguments"]["channels"] = 1 << 20  # a 3x3 conv of 3 -> 1M channels: 113 MB of fp32
    (folder / "config.json").write_text(json.dumps(config))
    built = _built_devices(monkeypatch)
    with pytest.raises(WeightsError, match="does not fit the network"):
        load_pretrained(folder)
    assert built and set(built) == {"meta"}


@pytest.mark.parametrize(("config", "problem"), [
    ([1], "not a JSON object"),
    ({"args": {}}, "no 'architecture' field"),
    ({"architecture": 5}, "'architecture' is 5, not a name"),
])
def test_a_config_without_an_architecture_name_says_what_is_wrong(tmp_path: Path, config: object,
                                                                  problem: str) -> None:
    folder = save_pretrained(_model(), tmp_path / "repo")
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ZooError, match=f"is not a zoo config.json \\(ValueError: {problem}\\)$"):
        load_pretrained(folder)


def test_deep_configs_and_non_finite_weights_are_one_line(tmp_path: Path) -> None:
    folder = save_pretrained(_model(), tmp_path / "repo")
    config_text = (folder / "config.json").read_text()
    (folder / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ZooError, match="is not a zoo config.json") as exc:
        load_pretrained(folder)
    assert "\n" not in str(exc.value)
    (folder / "config.json").write_text(config_text)
    broken = _model()
    with torch.no_grad():
        broken.conv.weight[0, 0, 0, 0] = float("nan")
    from safetensors.torch import save_file  # save_weights itself refuses non-finite tensors

    save_file(dict(broken.state_dict()), str(folder / "model.safetensors"))
    with pytest.raises(WeightsError, match="'conv.weight' holds NaN or infinite values"):
        load_pretrained(folder)


@pytest.mark.parametrize("header", [b"[]", b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": ["0", "4"]}}'])
def test_malformed_safetensors_headers_are_one_line(tmp_path: Path, header: bytes) -> None:
    import struct

    path = tmp_path / "w.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    with pytest.raises(WeightsError, match="truncated or not a safetensors file"):
        load_weights(_model(), path)


# --- refusals before anything is fetched or written ---------------------------------------------

def _jpeg(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "good.jpg"
    Image.new("RGB", (64, 64), (120, 60, 30)).save(path, quality=50)
    return path


@pytest.mark.parametrize("repo", ["a b/c", "-a/b", "a/b..c", "a/b.git", "org/naïve", "a/b@",
                                  "a/b@ main"])
def test_malformed_hub_ids_are_one_line(hub: FakeHub, tmp_path: Path, repo: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    spec = f"hf-hub:{repo}"
    with pytest.raises(ZooError, match=f"^'hf-hub:{repo}': expected hf-hub:ORG/NAME") as exc:
        zoo.load(spec)
    assert "\n" not in str(exc.value)
    with pytest.raises(ZooError, match="expected a saved folder or a Hub repo id ORG/NAME"):
        load_pretrained(repo)
    assert main(["restore", str(_jpeg(tmp_path)), "-o", str(tmp_path / "out.png"),
                 "--model", spec]) == 2
    assert main(["push", spec, "--repo", "org/x", "--dry-run", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err.count(f"error: '{spec}': expected hf-hub:ORG/NAME") == 2 and "Traceback" not in err
    assert not hub.requests and not (tmp_path / "d").exists()


@pytest.mark.parametrize("revision", ["../../../tmp/ref", "/etc/passwd", "v1/../../x", "a\\..\\b",
                                      "main\x1b[2J", "ma\nin"])
def test_a_revision_that_could_name_a_file_outside_the_cache_is_refused(
        hub: FakeHub, revision: str) -> None:
    """huggingface_hub reads refs/REVISION: '@../../../tmp/ref' read a file outside the cache."""
    with pytest.raises(ZooError, match=r"the revision after '@' must be a branch, tag or commit, "
                                       r"without '\.\.' parts") as exc:
        zoo.load(f"hf-hub:org/tiny@{revision}")
    assert "\n" not in str(exc.value)
    assert zoo.loading.parse_hub_id("hf-hub:org/tiny@feature/v1.2") == ("org/tiny", "feature/v1.2")

@pytest.mark.parametrize("repo", ["a b/c", "-a/b", "a/b..c", "only-a-name", "a/b/c", "org/naïve"])
def test_push_checks_the_repo_id_up_front(hub: FakeHub, tmp_path: Path, repo: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    source = save_pretrained(_model(), tmp_path / "src")
    out = tmp_path / "dry"
    assert main(["push", str(source), f"--repo={repo}", "--dry-run", str(out)]) == 2
    assert main(["push", str(source), f"--repo={repo}"]) == 2
    err = capsys.readouterr().err
    assert err.count(f"error: --repo {repo!r}: expected ORG/NAME") == 2 and len(err.splitlines()) == 2
    assert not out.exists()
    with pytest.raises(ZooError, match=f"^{repo!r}: expected ORG/NAME"):
        save_pretrained(_model(), out, repo_id=repo)
    with pytest.raises(ZooError, match=f"^{repo!r}: expected ORG/NAME"):
        push_to_hub(_model(), repo)
    assert not out.exists() and not hub.requests


def test_an_entry_without_weights_is_not_pushed(hub: FakeHub, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """``jpeg`` (the identity, the leaderboards' floor) has nothing for a Hub repo to hold."""
    out = tmp_path / "pj"
    assert main(["push", "jpeg", "--repo", "me/t", "--dry-run", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err == ("error: jpeg has no weights to publish: it has no parameters "
                            "(weights: none needed) and loads by its registry name in any zoo\n")
    assert "weights from" not in captured.out and not out.exists()
    identity = load_model("jpeg")
    with pytest.raises(ZooError, match="^jpeg has no weights to publish"):
        save_pretrained(identity, out)
    with pytest.raises(ZooError, match="^jpeg has no weights to publish"):
        push_to_hub(identity, "me/t")
    assert not out.exists() and not hub.requests


def test_bare_weights_file_hint_names_the_python_and_the_cli_form(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "w.safetensors"
    save_weights(_model(), weights)
    with pytest.raises(ZooError, match=r"no config.json beside it; .*zoo.load\(NAME, weights=PATH\)"):
        zoo.load(str(weights))
    image, out = str(_jpeg(tmp_path)), str(tmp_path / "out.png")
    assert main(["restore", image, "-o", out, "--model", str(weights)]) == 2
    assert main(["restore", image, "-o", out, "--model", image]) == 2  # not a model at all
    folder = save_pretrained(_model(), tmp_path / "saved")
    assert main(["restore", image, "-o", out, "--model", str(folder), "--weights", str(weights)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and all("--weights PATH" in line for line in lines)


@pytest.mark.parametrize("name", [n for n in zoo.list_models() if zoo.get_model_info(n).weights])
def test_push_writes_exactly_the_registry_file_of_every_entry(name: str, tmp_path: Path) -> None:
    """The Hub copy must be the file whose sha256 the registry pins: `gan`'s shipped file had
    its header keys in another order, so its pushed copy (same tensors) was refused by zoo."""
    assert main(["push", name, "--repo", f"jpeg-zoo/{name}", "--dry-run", str(tmp_path)]) == 0
    assert sha256_file(tmp_path / "model.safetensors") == zoo.get_model_info(name).weights.sha256


def test_a_push_into_an_existing_repo_replaces_the_model_there(hub: FakeHub, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    """An earlier push's training.json stayed beside the next model's files, describing
    another model; --private was ignored for a repo that existed and was public."""
    first = save_pretrained(_model(3), tmp_path / "first", training={"entry": "unet-l1", "steps": 4})
    push_to_hub(load_pretrained(first), "org/mixed", training={"entry": "unet-l1", "steps": 4})
    assert "training.json" in hub.repos["org/mixed"].files
    push_to_hub(_model(4), "org/mixed")
    assert sorted(hub.repos["org/mixed"].files) == ["README.md", "config.json", "model.safetensors"]
    with pytest.raises(ZooError, match="^org/mixed exists and is public: --private does not change"):
        push_to_hub(_model(4), "org/mixed", private=True)


def test_saving_into_a_folder_of_another_model_drops_its_run_record(tmp_path: Path) -> None:
    save_pretrained(_model(3), tmp_path / "dir", training={"entry": "unet-l1", "steps": 4})
    save_pretrained(_model(4), tmp_path / "dir")
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == ["README.md", "config.json",
                                                                     "model.safetensors"]


def test_a_save_killed_while_writing_leaves_a_folder_saved_into_again(tmp_path: Path) -> None:
    """atomic_write's temporary file, left by a save killed while writing, made the folder one
    that was not a zoo model's: refused for good. A save's own leftovers are cleared."""
    model = _model(5)
    folder = save_pretrained(model, tmp_path / "m")
    (folder / ".config.json.k3j_x9.tmp").write_text("{")  # what a kill -9 leaves
    save_pretrained(model, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json",
                                                          "model.safetensors"]
    (folder / ".notes.txt.tmp").write_text("mine")  # not a save's: the folder is refused
    with pytest.raises(ZooError, match=r"it holds \.notes\.txt\.tmp"):
        save_pretrained(model, folder)


def test_a_model_that_cannot_be_saved_leaves_no_repo_behind(hub: FakeHub, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    model = _model(5)
    with torch.no_grad():
        next(model.parameters()).fill_(1e6)  # beyond float16
    with pytest.raises(WeightsError, match="does not fit in torch.float16"):
        push_to_hub(model, "org/big")
    assert "org/big" not in hub.repos and not any(m == "POST" for m, _ in hub.requests)
    with pytest.raises(WeightsError):
        save_pretrained(model, tmp_path / "dry")
    assert not (tmp_path / "dry" / "config.json").exists()  # no half-written folder


def test_the_card_says_what_it_cannot_know_and_what_does_not_fit(tmp_path: Path) -> None:
    """An export built with other arguments kept the entry's description ("48/96/192 channels");
    a re-published saved model said "not trained"; the released weights' card named only the
    recipe, which alone does not reproduce them."""
    narrow = zoo.create_model("unet-l1", channels=[8, 16, 32])
    card = (save_pretrained(narrow, tmp_path / "narrow") / "README.md").read_text()
    note = ("built with other arguments than the unet-l1 entry's, so the description above does "
            "not fit it in full: channels \\[8, 16, 32\\] (the entry: \\[48, 96, 192\\])")
    assert card.count(note) == 1, card
    released = zoo.load("unet-l1", device="cpu")
    card = (save_pretrained(released, tmp_path / "released") / "README.md").read_text()
    assert "other arguments" not in card and "How the shipped weights were trained" in card
    again = load_pretrained(tmp_path / "narrow")
    card = (save_pretrained(again, tmp_path / "again") / "README.md").read_text()
    assert card.count(note) == 1 and "\\`" not in card  # the note, saved again, read as before
    assert "| training recipe | unknown (not recorded with these weights) |" in card


# --- the Hub's answers when a cached copy exists -----------------------------------------------

def _cache_tiny_repo(hub: FakeHub, tmp_path: Path) -> None:
    """someone/tiny on the fake Hub, loaded once so that its files are in the HF cache."""
    _upload_folder(hub, "someone/tiny", save_pretrained(_model(4), tmp_path / "v1"))
    zoo.load("hf-hub:someone/tiny", device="cpu")


def test_an_unreachable_hub_loads_the_cached_copy(hub: FakeHub, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    _cache_tiny_repo(hub, tmp_path)
    with socket.socket() as s:  # a port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    use_endpoint(monkeypatch, f"http://127.0.0.1:{port}")
    model = zoo.load("hf-hub:someone/tiny", device="cpu")
    assert _same_outputs(model, _model(4))
    assert "the Hub is unreachable" in model.weights_source and "cached copy" in model.weights_source


def test_a_hub_error_answer_loads_the_cached_copy_and_says_so(hub: FakeHub, tmp_path: Path) -> None:
    _cache_tiny_repo(hub, tmp_path)
    del hub.repos["someone/tiny"]  # the Hub now answers 404
    model = zoo.load("hf-hub:someone/tiny", device="cpu")
    assert _same_outputs(model, _model(4))
    assert "(the Hub answered HTTP 404: no such repo, or a private one; cached copy)" in model.weights_source


def test_a_pinned_hub_revision_is_published_with_its_own_run_record(
        hub: FakeHub, tmp_path: Path) -> None:
    """The run record of hf-hub:ORG/NAME@REV is the one of that commit, not of main."""
    first = _upload_folder(hub, "someone/tiny", save_pretrained(
        _model(1), tmp_path / "v1", training={"recipe": "tiny-entry", "steps": 4}))
    _upload_folder(hub, "someone/tiny", save_pretrained(
        _model(2), tmp_path / "v2", training={"recipe": "tiny-entry", "steps": 9}))
    out = tmp_path / "dry"
    assert main(["push", f"hf-hub:someone/tiny@{first}", "--repo", "org/x", "--dry-run", str(out)]) == 0
    assert json.loads((out / "training.json").read_text())["steps"] == 4


def test_weights_from_the_hub_get_the_released_weights_note(tmp_path: Path) -> None:
    model = zoo.create_model("unet-l1", channels=[8, 16, 32])  # the card reads only the source
    model.weights_source = "hub: jpeg-zoo/unet-l1@main/unet-l1.safetensors (commit 0123456789ab)"
    card = (save_pretrained(model, tmp_path / "repo") / "README.md").read_text()
    assert "How the shipped weights were trained" in card


# --- zoo push failures --------------------------------------------------------------------------

def test_a_failed_upload_is_one_error_line(hub: FakeHub, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import HfApi

    def down(*args: object, **kwargs: object) -> None:
        raise ConnectionError("down")

    monkeypatch.setenv("HF_TOKEN", "hf_test")
    monkeypatch.setattr(HfApi, "create_commit", down)
    source = save_pretrained(_model(), tmp_path / "src")
    assert main(["push", str(source), "--repo", "org/x"]) == 2
    assert capsys.readouterr().err == (
        "error: push to org/x failed: down; the Hub could not be reached: check your connection "
        "(or write the files only: `zoo push --dry-run DIR`, zoo.hub.save_pretrained)\n")
    with pytest.raises(ZooError, match=r"^push to org/x failed: down; the Hub could not be "
                                       r"reached"):  # from Python too, not a ConnectionError
        push_to_hub(load_pretrained(source), "org/x")


def test_a_loaded_folder_is_in_eval_mode_as_zoo_load_gives_it(tmp_path: Path) -> None:
    """load_pretrained gave training mode: a direct call updated batch-norm statistics."""
    source = save_pretrained(_model(3), tmp_path / "src")
    assert not load_pretrained(source).training and not zoo.load(str(source)).training


def test_the_offline_hint_follows_huggingface_hub_s_reading(
        hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_HUB_OFFLINE=0 is not offline, but the error said to unset it."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with pytest.raises(WeightsError) as exc:
        zoo.load("hf-hub:org/missing")
    assert "HF_HUB_OFFLINE" not in str(exc.value)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(WeightsError, match=r"\(or unset HF_HUB_OFFLINE\)$"):
        zoo.load("hf-hub:org/missing")


def test_an_unreachable_hub_is_said_so_whatever_the_http_client_raises() -> None:
    """Offline, a push said only "[Errno -2] Name or service not known"."""
    import httpx2

    from zoo.hub import hub_reason

    request = httpx2.Request("POST", "http://hub/api/repos/create")
    for exc in (httpx2.ConnectError("[Errno -2] Name or service not known", request=request),
                httpx2.ReadTimeout("timed out", request=request)):
        assert hub_reason(exc).endswith("; the Hub could not be reached: check your connection "
                                        "(or write the files only: `zoo push --dry-run DIR`, "
                                        "zoo.hub.save_pretrained)")
    assert "could not be reached" not in hub_reason(ValueError("Invalid repo type"))
    assert "could not be reached" not in hub_reason(OSError(28, "No space left on device"))
    from huggingface_hub.errors import HfHubHTTPError

    answered = httpx2.Response(404, request=request)  # an HTTP answer: the Hub was reached
    assert "could not be reached" not in hub_reason(HfHubHTTPError("404 Not Found", response=answered))


def test_an_unauthorized_push_says_to_check_the_token() -> None:
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    from zoo.hub import hub_reason

    request = httpx2.Request("POST", "http://hub/api/repos/create")
    for status in (401, 403):  # 403: a token without write access to the repo
        error = HfHubHTTPError(f"{status} Client Error", response=httpx2.Response(status, request=request))
        reason = hub_reason(error)
        assert reason.startswith(f"{status} Client Error") and "check your token" in reason
    said = HfHubHTTPError("403 Client Error", response=httpx2.Response(403, request=request),
                          server_message="You don't have the rights")
    assert hub_reason(said).startswith("403 Client Error (You don't have the rights); check")
    again = HfHubHTTPError("403 Client Error: You don't have the rights",
                           response=httpx2.Response(403, request=request),
                           server_message="You don't have the rights")
    assert hub_reason(again).count("You don't have the rights") == 1  # not twice


# --- saved configs the zoo refuses --------------------------------------------------------------

@register_architecture
class TinyPaddedNet(Restorer):
    """Pads to ``pad``, an argument: a config can claim any padding."""

    def __init__(self, pad: int = 2) -> None:
        super().__init__(pad=pad)
        self.pad_multiple = pad
        self.conv = nn.Conv2d(3, 3, 1)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x)


def test_a_network_padding_beyond_the_limit_is_refused(tmp_path: Path) -> None:
    folder = save_pretrained(TinyPaddedNet(), tmp_path / "repo")
    config = json.loads((folder / "config.json").read_text())
    config["arguments"]["pad"] = config["input_conventions"]["pad_multiple"] = 512
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ZooError, match=r"pads images to multiples of 512 \(at most 256\)"):
        load_pretrained(folder)


def _takes_one_or_two(k: Literal[1, 2]) -> None:
    pass


def test_a_bool_is_not_a_literal_number() -> None:
    """JSON's true equals 1 in Python; a Literal[1, 2] argument still refuses it."""
    from zoo.arguments import check_arguments

    check_arguments(_takes_one_or_two, {"k": 1})
    with pytest.raises(TypeError, match=r"argument 'k' must be one of 1, 2, got bool True"):
        check_arguments(_takes_one_or_two, {"k": True})


def _unet_folder(tmp_path: Path, arguments: dict) -> Path:
    """A saved small UNet whose config.json asks for ``arguments``."""
    folder = save_pretrained(zoo.create_model("unet-l1", channels=[8, 16], blocks=[1, 1]),
                             tmp_path / "repo")
    config = json.loads((folder / "config.json").read_text())
    config["arguments"] = arguments
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_a_config_asking_for_more_layers_than_its_weights_hold_stops_the_meta_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """blocks [1, 1e9] ran until killed: the meta build went on layer after layer."""
    folder = _unet_folder(tmp_path, {"channels": [8, 16], "blocks": [1, 2000]})
    built = _built_devices(monkeypatch)
    with pytest.raises(WeightsError, match=r"config.json: its arguments build more than 300 "
                                           r"parameter tensors, and .* holds 22 tensors$"):
        load_pretrained(folder)
    assert set(built) == {"meta"} and len(built) < 200


def test_a_network_that_fails_on_the_meta_device_is_not_built_for_real(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A meta build that raised was passed over, and the real build allocated the network."""
    folder = _unet_folder(tmp_path, {"channels": [8, -16], "blocks": [1, 1]})
    built = _built_devices(monkeypatch)
    with pytest.raises(ZooError, match=r"config.json: arguments do not fit UNet \(RuntimeError: "):
        load_pretrained(folder)
    assert built and set(built) == {"meta"}


def test_a_weights_file_of_too_many_tensors_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from zoo.weight_fit import MAX_WEIGHT_TENSORS

    folder = save_pretrained(_model(), tmp_path / "repo")
    save_file({f"t{i}": torch.zeros(1) for i in range(MAX_WEIGHT_TENSORS + 1)},
              str(folder / "model.safetensors"))
    with pytest.raises(WeightsError, match=r"holds 20,001 tensors \(at most 20,000\)"):
        load_pretrained(folder)


@register_architecture
class TinySeededNet(Restorer):
    """``pretrained`` chooses how it starts (a download, for ARNet's encoder), not what it is."""

    config_excludes = frozenset({"pretrained"})
    started_pretrained = 0

    def __init__(self, channels: int = 4, pretrained: bool = False) -> None:
        super().__init__()
        TinySeededNet.started_pretrained += pretrained
        self.conv = nn.Conv2d(3, channels, 1)
        self.out = nn.Conv2d(channels, 3, 1)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.out(self.conv(x))


def test_a_config_setting_an_initialisation_choice_is_refused(tmp_path: Path) -> None:
    """ARNet's encoder_pretrained: true in a config.json downloaded timm's ImageNet weights."""
    folder = save_pretrained(TinySeededNet(), tmp_path / "repo")
    config = json.loads((folder / "config.json").read_text())
    assert "pretrained" not in config["arguments"]
    config["arguments"]["pretrained"] = True
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ZooError, match=r"config.json: 'arguments' sets pretrained, which chooses "
                                       r"how TinySeededNet starts training, not what it is"):
        load_pretrained(folder)
    assert TinySeededNet.started_pretrained == 0



def test_a_hostile_config_s_license_and_name_reach_neither_card_nor_terminal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """license '<script>...' went into the card's YAML header and table; a name holding terminal
    escape codes was printed raw by zoo push."""
    folder = save_pretrained(_model(), tmp_path / "repo")
    config = json.loads((folder / "config.json").read_text())
    config["license"] = "<script>alert(6)</script>"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ZooError, match=r"config.json: license '<script>alert\(6\)</script>' is not "
                                       r"a license id such as mit"):
        load_pretrained(folder)
    config["license"], config["name"] = "apache-2.0", "\x1b[2J\x1b[31mred\n"
    (folder / "config.json").write_text(json.dumps(config))
    assert main(["push", str(folder), "--repo", "org/x", "--dry-run", str(tmp_path / "dry")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[2J\\x1b[31mred\\n: weights from " in out
    card = (tmp_path / "dry" / "README.md").read_text()
    assert "license: apache-2.0\n" in card and "\n# \\[2J \\[31mred\n" in card


def test_the_push_names_stay_zoo_hubs() -> None:
    """zoo.hub.push_to_hub, check_token and hub_reason are the documented names, now defined in
    zoo.hub_push; a name zoo.hub does not have is an AttributeError, not None."""
    import zoo.hub
    import zoo.hub_push

    for name in zoo.hub.__all__:
        assert getattr(zoo.hub, name) is not None, name
    for name in ("push_to_hub", "check_token", "hub_reason"):
        assert getattr(zoo.hub, name) is getattr(zoo.hub_push, name)
    with pytest.raises(AttributeError):
        zoo.hub.nosuch  # noqa: B018
