"""Weights files (save, strict load, sha256, one-line errors) and where weights are resolved from."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import time
from pathlib import Path

import pytest
import torch
from hub_server import FakeHub, use_endpoint, write_cache_entry
from huggingface_hub import constants
from torch import nn

import zoo
import zoo.pretrained
import zoo.weights
from zoo.errors import WeightsError
from zoo.models.base import Restorer
from zoo.registry import ModelInfo, WeightsInfo, create_model, register_architecture
from zoo.pretrained import load_entry_weights, resolve_weights, weights_availability
from zoo.weights import load_weights, save_weights, sha256_file

REPO = "zoo-test/tiny"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@register_architecture
class TinyWeightsNet(Restorer):
    """A few parameters of every kind a state dict holds: conv, batch-norm stats, an int buffer."""

    def __init__(self, channels: int = 4) -> None:
        super().__init__(channels=channels)
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        self.norm = nn.BatchNorm2d(channels)
        self.out = nn.Conv2d(channels, 3, 1)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.out(torch.relu(self.norm(self.conv(x))))


class OtherNet(Restorer):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 3, 3, padding=1)


def _trained(seed: int = 0, channels: int = 4) -> TinyWeightsNet:
    torch.manual_seed(seed)
    model = TinyWeightsNet(channels)
    with torch.no_grad():
        model.norm.running_mean.uniform_(-1, 1)
        model.norm.running_var.uniform_(0.5, 2)
        model.norm.num_batches_tracked.fill_(7)
    return model


def _info(sha256: str, *, hub_repo: str | None = REPO, revision: str = "main") -> ModelInfo:
    return ModelInfo(name="tiny-test", description="test entry", architecture="TinyWeightsNet",
                     arch_args={"channels": 4},
                     weights=WeightsInfo(file="tiny-test.safetensors", sha256=sha256,
                                         hub_repo=hub_repo, revision=revision))


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


@pytest.fixture
def weights_file(tmp_path: Path) -> tuple[Path, str, TinyWeightsNet]:
    model = _trained()
    path = tmp_path / "tiny.safetensors"
    return path, save_weights(model, path), model


@pytest.fixture
def hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HF cache and an empty shipped-weights folder; offline unless a test says otherwise."""
    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(zoo.pretrained, "WEIGHTS_DIR", tmp_path / "shipped")
    (tmp_path / "shipped").mkdir()
    return cache


# --- save and strict load -------------------------------------------------------------------------

def test_fp16_save_then_strict_load_round_trip(weights_file: tuple[Path, str, TinyWeightsNet]) -> None:
    path, sha, model = weights_file
    assert sha == sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    header_len = struct.unpack("<Q", path.read_bytes()[:8])[0]
    header = json.loads(path.read_bytes()[8:8 + header_len])
    assert header["__metadata__"]["architecture"] == "TinyWeightsNet"
    assert header["__metadata__"]["format_version"] == zoo.weights.FORMAT_VERSION
    assert header["conv.weight"]["dtype"] == "F16"
    assert header["norm.num_batches_tracked"]["dtype"] == "I64"  # integers are not cast

    fresh = TinyWeightsNet(4)
    load_weights(fresh, path, expected_sha256=sha)
    assert fresh.conv.weight.dtype == torch.float32
    for key, value in model.state_dict().items():
        loaded = fresh.state_dict()[key]
        assert torch.allclose(loaded.float(), value.float(), rtol=1e-3, atol=1e-3), key
    assert int(fresh.norm.num_batches_tracked) == 7
    x = torch.rand(1, 3, 9, 11)
    assert torch.allclose(fresh.eval()(x), model.eval()(x), atol=5e-3)


def test_saves_are_byte_reproducible_across_processes(tmp_path: Path) -> None:
    """The same weights saved by two processes have the same sha256 (metadata order included)."""
    import subprocess
    import sys

    script = ("import sys, torch; from torch import nn; from zoo.weights import save_weights; "
              "torch.manual_seed(0); print(save_weights(nn.Conv2d(3, 4, 3), sys.argv[1]))")
    digests = {subprocess.run([sys.executable, "-c", script, str(tmp_path / f"{i}.safetensors")],
                              capture_output=True, text=True, check=True).stdout.strip()
               for i in range(3)}
    assert len(digests) == 1
    fresh = nn.Conv2d(3, 4, 3)
    load_weights(fresh, tmp_path / "0.safetensors")


def test_float32_save_is_exact(tmp_path: Path) -> None:
    model = _trained()
    save_weights(model, tmp_path / "w.safetensors", dtype=torch.float32)
    fresh = TinyWeightsNet(4)
    load_weights(fresh, tmp_path / "w.safetensors")
    assert torch.equal(fresh.conv.weight, model.conv.weight)


def test_overflowing_fp16_is_refused(tmp_path: Path) -> None:
    model = _trained()
    with torch.no_grad():
        model.conv.weight[0, 0, 0, 0] = 1e6
    with pytest.raises(WeightsError, match="float32") as exc:
        save_weights(model, tmp_path / "w.safetensors")
    _one_line(exc)
    assert not list(tmp_path.iterdir())  # nothing half-written is left


def test_keys_mismatch_is_refused(weights_file: tuple[Path, str, TinyWeightsNet]) -> None:
    path, _, _ = weights_file
    with pytest.raises(WeightsError, match="does not fit OtherNet: missing body.bias, body.weight") as exc:
        load_weights(OtherNet(), path)
    assert "unexpected" in _one_line(exc)


def test_shape_mismatch_is_refused(weights_file: tuple[Path, str, TinyWeightsNet]) -> None:
    path, _, _ = weights_file
    model = TinyWeightsNet(8)
    before = model.conv.weight.clone()
    with pytest.raises(WeightsError, match="shape") as exc:
        load_weights(model, path)
    _one_line(exc)
    assert torch.equal(model.conv.weight, before)  # the model is left untouched


def test_corrupt_file_fails_the_sha256_check(weights_file: tuple[Path, str, TinyWeightsNet]) -> None:
    path, sha, _ = weights_file
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # one flipped bit pattern in the tensor data: still a valid safetensors file
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256.*does not match.*delete it and download") as exc:
        load_weights(TinyWeightsNet(4), path, expected_sha256=sha)
    assert str(path) in _one_line(exc)


def test_truncated_file_is_refused_before_hashing(weights_file: tuple[Path, str, TinyWeightsNet]) -> None:
    path, sha, _ = weights_file
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(WeightsError, match=r"truncated \(\d+ of \d+ bytes\)") as exc:
        load_weights(TinyWeightsNet(4), path, expected_sha256=sha)
    _one_line(exc)
    path.write_bytes(data[:5])
    with pytest.raises(WeightsError, match="truncated or not a safetensors file"):
        load_weights(TinyWeightsNet(4), path)


def test_a_sha256_differing_only_after_its_first_12_digits_is_refused(
        weights_file: tuple[Path, str, TinyWeightsNet]) -> None:
    """The message shows 12 digits of each; the comparison is of all 64."""
    path, sha, _ = weights_file
    other = sha[:-1] + ("0" if sha[-1] != "0" else "1")
    with pytest.raises(WeightsError, match=f"sha256 {sha[:12]}... does not match the expected "
                                           f"{sha[:12]}..."):
        load_weights(TinyWeightsNet(4), path, expected_sha256=other)


def test_a_file_cut_by_4_bytes_says_how_many_it_has_of_how_many(
        weights_file: tuple[Path, str, TinyWeightsNet]) -> None:
    """The full size is the 8-byte length, the header and the tensor data: the file as saved."""
    path, _, _ = weights_file
    data = path.read_bytes()
    path.write_bytes(data[:-4])
    size = len(data)
    with pytest.raises(WeightsError, match=rf"is truncated \({size - 4} of {size} bytes\)"):
        load_weights(TinyWeightsNet(4), path)


def test_a_file_of_another_kind_is_not_called_a_download_to_delete(tmp_path: Path) -> None:
    """``--weights photo.jpg`` was told "delete it and download or export it again"."""
    from PIL import Image

    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (32, 32), (10, 20, 30)).save(photo)
    with pytest.raises(WeightsError) as exc:
        load_weights(TinyWeightsNet(4), photo)
    assert _one_line(exc) == (f"{photo} is not a safetensors file: weights are .safetensors files "
                              "(a zoo train export's model.safetensors, say)")
    assert photo.is_file()


def test_not_safetensors_and_missing_files_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"PK\x03\x04 this is a zip, not weights" * 10)
    with pytest.raises(WeightsError, match="not a safetensors file"):
        load_weights(TinyWeightsNet(4), junk)
    with pytest.raises(WeightsError, match="not found") as exc:
        load_weights(TinyWeightsNet(4), tmp_path / "absent.safetensors")
    _one_line(exc)


def test_a_folder_and_integer_tensors_are_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    with pytest.raises(WeightsError, match="is a folder, not a safetensors file") as exc:
        load_weights(TinyWeightsNet(4), tmp_path)
    _one_line(exc)
    model = TinyWeightsNet(4)
    as_int8 = {k: (v * 100).round().to(torch.int8) if v.is_floating_point() else v
               for k, v in model.state_dict().items()}
    save_file(as_int8, str(tmp_path / "int8.safetensors"))
    with pytest.raises(WeightsError, match="torch.int8, the model expects torch.float32") as exc:
        load_weights(TinyWeightsNet(4), tmp_path / "int8.safetensors")
    _one_line(exc)


def test_a_float8_tensor_is_refused_in_one_line(tmp_path: Path) -> None:
    """torch has no isfinite for float8: the finiteness check raised NotImplementedError."""
    from safetensors.torch import save_file

    state = TinyWeightsNet(4).state_dict()
    save_file({**state, "conv.weight": state["conv.weight"].to(torch.float8_e4m3fn)},
              str(tmp_path / "fp8.safetensors"))
    with pytest.raises(WeightsError, match=r"fp8.safetensors: 'conv.weight' is "
                                           r"torch.float8_e4m3fn; the zoo loads float16, ") as exc:
        load_weights(TinyWeightsNet(4), tmp_path / "fp8.safetensors")
    _one_line(exc)
    save_file({k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in state.items()},
              str(tmp_path / "bf16.safetensors"))
    load_weights(TinyWeightsNet(4), tmp_path / "bf16.safetensors")


def test_entry_without_weights(tmp_path: Path) -> None:
    info = ModelInfo(name="untrained", description="d", architecture="TinyWeightsNet")
    with pytest.raises(WeightsError, match="no pretrained weights.*--weights") as exc:
        load_entry_weights(TinyWeightsNet(4), info)
    _one_line(exc)
    # An explicit file still loads into it; a parameterless entry needs none.
    path = tmp_path / "w.safetensors"
    save_weights(_trained(), path)
    assert load_entry_weights(TinyWeightsNet(4), info, path).source == "path"
    assert create_model("jpeg", pretrained=True).weights_source.startswith("none")


# --- resolution order -----------------------------------------------------------------------------

def _ship(weights_dir: Path, model: nn.Module) -> str:
    return save_weights(model, weights_dir / "tiny-test.safetensors")


def test_shipped_copy_is_used_offline_with_an_empty_cache(hub_env: Path) -> None:
    sha = _ship(zoo.pretrained.WEIGHTS_DIR, _trained(1))
    resolved = resolve_weights(_info(sha))
    assert resolved.source == "shipped"
    assert resolved.path == zoo.pretrained.WEIGHTS_DIR / "tiny-test.safetensors"
    model = TinyWeightsNet(4)
    assert load_entry_weights(model, _info(sha)).source == "shipped"
    assert model.weights_source.startswith("shipped")
    assert torch.allclose(model.conv.weight, _trained(1).conv.weight, atol=1e-3)


def test_hub_cache_beats_a_damaged_shipped_copy_and_explicit_path_beats_both(
        hub_env: Path, tmp_path: Path) -> None:
    _ship(zoo.pretrained.WEIGHTS_DIR, _trained(1))  # not the registry's file (another sha256)
    hub_model_file = tmp_path / "hub.safetensors"
    sha = save_weights(_trained(2), hub_model_file)
    snapshot = write_cache_entry(hub_env, REPO, "tiny-test.safetensors",
                                 hub_model_file.read_bytes(), commit=COMMIT)
    info = _info(sha)
    resolved = resolve_weights(info)
    assert resolved.source == "hub cache"
    assert resolved.path == snapshot
    assert "HF_HUB_OFFLINE" in str(resolved)
    model = TinyWeightsNet(4)
    load_entry_weights(model, info)
    assert torch.allclose(model.conv.weight, _trained(2).conv.weight, atol=1e-3)

    own = tmp_path / "mine.safetensors"
    save_weights(_trained(3), own)
    assert resolve_weights(info, own).source == "path"
    load_entry_weights(model, info, own)  # the user's own file: not held to the registry's sha256
    assert torch.allclose(model.conv.weight, _trained(3).conv.weight, atol=1e-3)


def test_pinned_commit_is_found_in_the_cache(hub_env: Path, tmp_path: Path) -> None:
    data_old = save_weights(_trained(4), tmp_path / "a.safetensors")
    write_cache_entry(hub_env, REPO, "tiny-test.safetensors", (tmp_path / "a.safetensors").read_bytes(),
                      commit=COMMIT, ref=None)
    resolved = resolve_weights(_info(data_old, revision=COMMIT))
    assert resolved.source == "hub cache"
    assert COMMIT in str(resolved.path)
    # The main ref is not in the cache and nothing is shipped: refused, saying what to do.
    with pytest.raises(WeightsError, match="neither in the Hugging Face cache.*--weights") as exc:
        resolve_weights(_info(data_old))
    assert "(HF_HUB_OFFLINE is set)" in _one_line(exc)  # why the Hub gave nothing


def test_a_cache_ref_pointing_outside_the_cache_is_one_line(hub_env: Path, tmp_path: Path) -> None:
    """huggingface_hub's own containment check raised ValueError('Invalid pointer path')."""
    write_cache_entry(hub_env, REPO, "tiny-test.safetensors", b"x", commit=COMMIT)
    outside = tmp_path / "ref"
    outside.write_text("../../../../elsewhere")
    revision = "../" + os.path.relpath(outside, hub_env / "models--zoo-test--tiny")  # from refs/
    with pytest.raises(WeightsError, match=r"the Hugging Face cache cannot give it \(Invalid "
                                           r"pointer path.*; check the revision$") as exc:
        zoo.pretrained.hub_file(REPO, "tiny-test.safetensors", revision)
    _one_line(exc)

def test_another_version_in_the_hub_cache_is_refused_saying_so(hub_env: Path, tmp_path: Path) -> None:
    """A sound download of other weights: deleting it would only fetch them again."""
    sha = save_weights(_trained(2), tmp_path / "w.safetensors")
    other = save_weights(_trained(5), tmp_path / "w.safetensors")
    assert other != sha
    write_cache_entry(hub_env, REPO, "tiny-test.safetensors", (tmp_path / "w.safetensors").read_bytes(),
                      commit=COMMIT)
    with pytest.raises(WeightsError, match=f"does not match.*the Hub's {REPO}@main holds other "
                                           "weights than this zoo's registry names") as exc:
        load_entry_weights(TinyWeightsNet(4), _info(sha))
    assert "snapshots" in _one_line(exc)


def test_a_damaged_download_in_the_hub_cache_names_the_file_to_delete(hub_env: Path,
                                                                      tmp_path: Path) -> None:
    """huggingface_hub keeps a large file under its sha256 but does not check the download
    against it; deleting the snapshot's link (what the message said) left the blob, which
    the next load linked again."""
    sha = save_weights(_trained(2), tmp_path / "w.safetensors")
    snapshot = write_cache_entry(hub_env, REPO, "tiny-test.safetensors",
                                 (tmp_path / "w.safetensors").read_bytes(), commit=COMMIT)
    blob = snapshot.resolve()
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=f"the cached download is damaged .*; delete {blob} and "
                                           "run again") as exc:
        load_entry_weights(TinyWeightsNet(4), _info(sha))
    _one_line(exc)
    assert zoo.pretrained.weights_availability(_info(sha)) == "none"  # not `hub cache`


def test_unreachable_hub_falls_through_quickly(hub_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    use_endpoint(monkeypatch, f"http://127.0.0.1:{port}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    sha = _ship(zoo.pretrained.WEIGHTS_DIR, _trained(1))
    start = time.perf_counter()
    resolved = resolve_weights(_info(sha))
    elapsed = time.perf_counter() - start
    assert resolved.source == "shipped"
    assert elapsed < 2.0, f"fallback took {elapsed:.1f} s"  # hf_hub_download alone retries ~20 s


def test_hub_download_beats_a_damaged_shipped_copy(hub_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    _ship(zoo.pretrained.WEIGHTS_DIR, _trained(1))  # not the registry's file (another sha256)
    sha = save_weights(_trained(2), tmp_path / "w.safetensors")
    with FakeHub() as hub:
        hub.add_repo(REPO, {"tiny-test.safetensors": (tmp_path / "w.safetensors").read_bytes()})
        use_endpoint(monkeypatch, hub.endpoint)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        resolved = resolve_weights(_info(sha))
    assert resolved.source == "hub"
    assert resolved.path is not None and hub_env in resolved.path.parents
    assert sha256_file(resolved.path) == sha


def test_weights_availability(hub_env: Path, tmp_path: Path) -> None:
    sha = save_weights(_trained(2), tmp_path / "w.safetensors")
    info = _info(sha)
    assert weights_availability(info) == "none"
    write_cache_entry(hub_env, REPO, "tiny-test.safetensors", (tmp_path / "w.safetensors").read_bytes(),
                      commit=COMMIT)
    assert weights_availability(info) == "hub cache"
    _ship(zoo.pretrained.WEIGHTS_DIR, _trained(2))
    assert weights_availability(info) == "shipped"  # the copy zoo.load takes first, as it says
    assert resolve_weights(info).source == "shipped"
    _ship(zoo.pretrained.WEIGHTS_DIR, _trained(3))  # damaged (not the registry's file)
    assert weights_availability(info) == "hub cache" == resolve_weights(info).source
    for cached in hub_env.rglob("*tiny-test.safetensors"):
        cached.unlink()
    assert weights_availability(info) == "damaged"  # what zoo.load will refuse, not "shipped"
    assert weights_availability(ModelInfo(name="x", description="d", architecture="Identity")) == "none"


# --- every registry entry -------------------------------------------------------------------------

@pytest.mark.parametrize("name", zoo.list_models())
def test_registry_entry_fp16_round_trip(name: str, tmp_path: Path) -> None:
    model = create_model(name).eval()
    torch.manual_seed(0)
    with torch.no_grad():  # move every weight off its init (a zero-initialised last layer hides errors)
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    sha = save_weights(model, tmp_path / "w.safetensors")
    fresh = create_model(name).eval()
    load_weights(fresh, tmp_path / "w.safetensors", expected_sha256=sha)
    for key, value in model.state_dict().items():
        assert torch.allclose(fresh.state_dict()[key].float(), value.float(), rtol=2e-3, atol=1e-3), key
    x = torch.rand(1, 3, 21, 19)
    with torch.no_grad():
        assert (fresh(x) - model(x)).abs().max() < 2e-2


def test_safetensors_whose_header_length_looks_like_a_pickle_mark_load(tmp_path: Path) -> None:
    """A header of 640 bytes starts the file with 0x80 0x02, a pickle's protocol mark."""
    from safetensors.torch import save_file

    model = nn.Conv2d(3, 3, 1)
    path = tmp_path / "w.safetensors"
    for pad in range(2000):
        save_file(dict(model.state_dict()), str(path), metadata={"pad": "x" * pad})
        if path.read_bytes()[:2] == b"\x80\x02":
            break
    else:
        pytest.fail("no padding gave a 0x80 0x02 start")
    load_weights(nn.Conv2d(3, 3, 1), path)


def test_a_sound_shipped_copy_is_used_without_asking_the_hub(
        hub_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The Hub was asked first on every online load: a request (and a warning while the entry's
    repo is unpublished) for a file that could only repeat the shipped one, and a refusal once
    the repo's main had moved on to other weights ("does not match"), though the package held
    the registry's file all along."""
    sha = _ship(zoo.pretrained.WEIGHTS_DIR, _trained(1))
    save_weights(_trained(2), tmp_path / "newer.safetensors")
    with FakeHub() as hub:
        hub.add_repo(REPO, {"tiny-test.safetensors": (tmp_path / "newer.safetensors").read_bytes()})
        use_endpoint(monkeypatch, hub.endpoint)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        model = TinyWeightsNet(4)
        assert load_entry_weights(model, _info(sha)).source == "shipped"
        assert weights_availability(_info(sha)) == "shipped"
        assert hub.count("HEAD", "/resolve/") == hub.count("GET", "/resolve/") == 0
    assert torch.allclose(model.conv.weight, _trained(1).conv.weight, atol=1e-3)


def test_hf_hub_etag_timeout_is_taken_when_set_even_to_its_default(
        hub_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    seen = []

    def metadata(url: str, timeout: float) -> None:
        seen.append(timeout)
        raise ConnectionError("unreachable")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", metadata)
    monkeypatch.setattr(constants, "HF_HUB_ETAG_TIMEOUT", constants.DEFAULT_ETAG_TIMEOUT)
    monkeypatch.delenv("HF_HUB_ETAG_TIMEOUT", raising=False)
    assert zoo.pretrained.hub_file(REPO, "x.safetensors") is None
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", str(constants.DEFAULT_ETAG_TIMEOUT))
    assert zoo.pretrained.hub_file(REPO, "x.safetensors") is None
    assert seen == [zoo.pretrained.HUB_TIMEOUT_S, constants.DEFAULT_ETAG_TIMEOUT]
