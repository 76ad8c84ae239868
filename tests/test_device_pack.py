"""training/device/pack.py refuses bad input before writing anything, leaves its pack whole or as
it was, skips unreadable images, and checks before a lease that the pack still fits beside the
tree (test_device_train_sh.py has train.sh). Nothing here downloads: the pip step and the LPIPS
backbones are stubbed; the pack goes to a temporary folder instead of the checkout's .device."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from zoo.cli import run_tool
from zoo.errors import ZooError
from script_modules import load_script

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def pack(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """pack.py as a module, with its network and LPIPS steps stubbed and a fixed tree size."""
    module = load_script("training/device/pack.py")

    def wheel(dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "lpips-0.1.4-py3-none-any.whl").write_bytes(b"wheel")

    def backbone(net: str, half: bool, zoo_data: Path) -> Path:
        out = zoo_data / "lpips" / f"{net}_backbone.safetensors"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(bytes(1000))
        return out

    monkeypatch.setattr(module, "pack_wheel", wheel)
    monkeypatch.setattr(module, "pack_backbone", backbone)
    monkeypatch.setattr(module, "tree_bytes", lambda repo: 2**20)
    return module


def _images(folder: Path, count: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / f"im{i}.png")


def _run(pack: ModuleType, monkeypatch: pytest.MonkeyPatch, *args: str | Path,
         out: Path | None = None) -> int:
    """pack.py's main with ``args``, making its pack in ``out`` instead of the checkout's .device."""
    if out is not None:
        monkeypatch.setattr(pack, "OUT", out)
    monkeypatch.setattr(sys, "argv", ["pack.py", *map(str, args)])
    return run_tool(pack.main)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    _images(tmp_path / "data" / "train" / "A", 3, seed=1)
    _images(tmp_path / "data" / "val" / "SetA", 2, seed=2)
    return tmp_path / "data"


def _inputs(data: Path) -> list[str | Path]:
    return ["--train", data / "train" / "A", "--val", data / "val"]


def test_bad_input_is_one_line_and_leaves_a_users_folder_alone(
        pack: ModuleType, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    (tmp_path / "empty").mkdir()
    for args, expected in [
        (["--train", tmp_path / "nowhere", "--val", data / "val"], "--train"),
        (["--train", data / "train" / "A", "--val", tmp_path / "nowhere"], "--val"),
        (["--train", tmp_path / "empty", "--val", data / "val"], "holds no images"),
        (_inputs(data), "not a pack"),  # good inputs, but --out holds someone's files
    ]:
        assert _run(pack, monkeypatch, *args, out=mine) == 2
        assert _files(mine) == {"notes.txt": b"keep me"}
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_out_naming_a_file_is_one_line(pack: ModuleType, data: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "file").write_text("keep me")
    assert _run(pack, monkeypatch, *_inputs(data), out=tmp_path / "file") == 2
    assert capsys.readouterr().err == (f"error: {tmp_path / 'file'}: a file or a link, not a folder; "
                                       "move it away for the pack\n")
    assert (tmp_path / "file").read_text() == "keep me"


def test_out_overlapping_a_source_and_two_sources_of_one_name_are_refused(
        pack: ModuleType, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    assert _run(pack, monkeypatch, *_inputs(data), out=data / "train" / "A" / "pack") == 2
    assert "overlap" in capsys.readouterr().err
    _images(tmp_path / "other" / "A", 1)
    assert _run(pack, monkeypatch, "--train", data / "train" / "A", tmp_path / "other" / "A",
                "--val", data / "val", out=tmp_path / "out") == 2
    assert "same name" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_earlier_pack_is_replaced_whole(pack: ModuleType, data: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    assert _run(pack, monkeypatch, *_inputs(data), out=out) == 0
    assert (out / "carry-1" / "groups.txt").read_text() == "1\n"
    assert len(list(out.glob("carry-1/train/A/*.webp"))) == 3
    _images(data / "train" / "A", 4, seed=3)  # one more image, the others changed
    assert _run(pack, monkeypatch, *_inputs(data), out=out) == 0
    assert len(list(out.glob("carry-1/train/A/*.webp"))) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out"]  # no scratch left


@pytest.mark.parametrize("earlier", [False, True])
def test_a_pack_stopped_midway_leaves_out_as_it_was(pack: ModuleType, data: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    earlier: bool) -> None:
    out = tmp_path / "out"
    if earlier:
        assert _run(pack, monkeypatch, *_inputs(data), out=out) == 0
    before = _files(out) if earlier else {}
    stubbed = pack.pack_backbone

    def interrupted(net: str, half: bool, zoo_data: Path) -> Path:
        if net == "vgg":
            raise KeyboardInterrupt
        return stubbed(net, half, zoo_data)

    monkeypatch.setattr(pack, "pack_backbone", interrupted)
    assert _run(pack, monkeypatch, *_inputs(data), out=out) == 130
    if earlier:
        assert _files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == (["data", "out"] if earlier else ["data"])


def test_a_scratch_folder_a_killed_run_left_is_removed(pack: ModuleType, data: Path,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".out.pack-x1y2" / "pack" / "carry-1").mkdir(parents=True)
    assert _run(pack, monkeypatch, *_inputs(data), out=tmp_path / "out") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out"]


def test_a_second_pack_on_the_same_out_is_refused_and_leaves_the_running_one_alone(
        pack: ModuleType, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    assert _run(pack, monkeypatch, *_inputs(data), out=out) == 0
    before = _files(out)
    capsys.readouterr()
    with pack.scratch_beside(out.resolve()) as running:  # a first pack.py, still building
        (running / "pack" / "carry-1").mkdir(parents=True)
        assert _run(pack, monkeypatch, *_inputs(data), out=out) == 2
        assert (running / "pack" / "carry-1").is_dir()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{out}: another pack.py is making this pack" in err
    assert _files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out"]


def test_ctrl_c_between_the_two_renames_puts_the_earlier_pack_back(
        pack: ModuleType, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    assert _run(pack, monkeypatch, *_inputs(data), out=out) == 0
    before = _files(out)
    rename = Path.rename

    def interrupted(self: Path, target: str | Path) -> Path:
        if self.name == "pack" and Path(target).name == "out":  # the earlier pack already moved
            raise KeyboardInterrupt
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", interrupted)
    assert _run(pack, monkeypatch, *_inputs(data), out=out) == 130
    assert _files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out"]


def test_unreadable_images_are_skipped_with_a_warning(pack: ModuleType, data: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture) -> None:
    bad_train = data / "train" / "A" / "bad.png"
    bad_val = data / "val" / "SetA" / "bad.jpg"
    bad_train.write_bytes(b"not an image")
    bad_val.write_bytes(b"\xff\xd8 truncated")
    out = tmp_path / "out"
    assert _run(pack, monkeypatch, *_inputs(data), out=out) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert str(bad_val) in warnings[0] and str(bad_train.resolve()) in warnings[1]
    assert (out / "carry-1" / "groups.txt").read_text() == "1\n"
    assert sorted(p.name for p in out.glob("carry-1/val/SetA/*")) == ["im0.png", "im1.png"]
    assert sorted(p.name for p in out.glob("carry-1/train/A/*")) == ["im0.webp", "im1.webp", "im2.webp"]


def test_many_unreadable_images_are_named_ten_times_then_counted(
        pack: ModuleType, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    for i in range(14):
        (data / "train" / "A" / f"bad{i:02d}.png").write_bytes(b"not an image")
    assert _run(pack, monkeypatch, *_inputs(data), out=tmp_path / "out") == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 11 and all("skipping training image" in w for w in warnings[:10])
    assert warnings[-1].endswith("skipped 14 of 17 training images in all (the first 10 are "
                                 "named above)")


def test_no_readable_training_image_is_one_line(pack: ModuleType, data: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture) -> None:
    for image in (data / "train" / "A").iterdir():
        image.write_bytes(b"not an image")
    assert _run(pack, monkeypatch, *_inputs(data), out=tmp_path / "out") == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == f"error: {(data / 'train' / 'A').resolve()}: no readable training images"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.mark.parametrize("crop", ["-3", "12", "x"])
def test_crop_out_of_range_is_a_usage_error(pack: ModuleType, data: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture, crop: str) -> None:
    with pytest.raises(SystemExit) as stop:
        _run(pack, monkeypatch, *_inputs(data), "--crop", crop, out=tmp_path / "out")
    assert stop.value.code == 2 and "--crop" in capsys.readouterr().err
    assert pack.crop_size("0") == 0 and pack.crop_size("128") == 128


def test_tree_bytes_outside_a_git_checkout_is_one_line(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_script("training/device/pack.py")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    with pytest.raises(ZooError, match="not a git checkout"):
        module.tree_bytes(tmp_path)
    assert module.tree_bytes(REPO) > 0


def test_a_failed_wheel_download_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_script("training/device/pack.py")
    failed = subprocess.CompletedProcess([], 1, "", "ERROR: Could not find a version\n"
                                         "ERROR: No matching distribution found for lpips\n\n")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: failed)
    with pytest.raises(ZooError, match=r"pip could not download lpips==\S+ \(ERROR: No matching"):
        module.pack_wheel(tmp_path / "wheels")


def test_pack_runs_from_the_repository_root_only(pack: ModuleType, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """From a sub-folder it measured only that folder's tree and printed carry paths the device
    tool (which runs in the root) would not find."""
    monkeypatch.chdir(REPO / "training")
    assert _run(pack, monkeypatch, out=tmp_path / "out") == 2
    assert "run pack.py from the repository's root" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_pack_goes_only_to_the_git_ignored_folder_train_sh_reads(
        pack: ModuleType, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A pack anywhere else would travel with the tree on every call, and train.sh would not
    find it: there is no --out."""
    with pytest.raises(SystemExit) as stop:
        _run(pack, monkeypatch, *_inputs(data), "--out", tmp_path / "elsewhere")
    assert stop.value.code == 2 and "--out" in capsys.readouterr().err
    assert not (tmp_path / "elsewhere").exists()
    assert pack.OUT == Path(".device")
    ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", ".device/carry-1/x"])
    assert ignored.returncode == 0


def test_check_measures_the_tree_and_the_largest_carry_folder_against_a_call(
        pack: ModuleType, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert _run(pack, monkeypatch, "--check", out=out) == 2
    assert capsys.readouterr().err == (f"error: {out}: no pack there; make it "
                                       "(python training/device/pack.py)\n")
    assert _run(pack, monkeypatch, *_inputs(data), out=out) == 0
    (out / "carry-2").mkdir()
    (out / "carry-2" / "big.bin").write_bytes(bytes(3 * 2**20))  # the largest folder
    capsys.readouterr()
    assert _run(pack, monkeypatch, "--check", out=out) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"the tree (1.00 MiB) plus {out / 'carry-2'} (3.00 MiB) make 4.00 MiB")
    assert printed.endswith("fits, 60.00 MiB spare\n")
    monkeypatch.setattr(pack, "tree_bytes", lambda repo: 61 * 2**20 + 1)  # the tree grew since
    assert _run(pack, monkeypatch, "--check", out=out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "over one call's 64 MiB: make the pack again" in err


def test_a_pack_holds_what_train_sh_needs_in_folders_that_each_fit_beside_the_tree(
        pack: ModuleType, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Room for 30,000 bytes beside the tree (and the margin) per call: the wheel, the cropped
    validation images and the AlexNet backbone in carry-1; the VGG backbone and the three
    training images (random 64x48 pixels, about 9 KB each in WebP) first fit from there."""
    room = 30_000
    monkeypatch.setattr(pack, "tree_bytes", lambda repo: pack.CALL_LIMIT - pack.MARGIN - room)
    out = tmp_path / "out"
    assert _run(pack, monkeypatch, *_inputs(data), "--crop", "32", out=out) == 0
    folders = sorted(p.name for p in out.iterdir())
    assert len(folders) >= 2 and (out / "carry-1" / "groups.txt").read_text() == f"{len(folders)}\n"
    assert folders == [f"carry-{n}" for n in range(1, len(folders) + 1)]
    assert all(pack.folder_bytes(out / name) <= room for name in folders)
    assert [p.name for p in out.glob("carry-1/wheels/*.whl")] == ["lpips-0.1.4-py3-none-any.whl"]
    assert (out / "carry-1" / "zoo-data" / "lpips" / "alex_backbone.safetensors").is_file()
    assert len(list(out.glob("carry-*/zoo-data/lpips/vgg_backbone.safetensors"))) == 1
    assert sorted(p.name for p in out.glob("carry-*/train/A/*.webp")) == [
        "im0.webp", "im1.webp", "im2.webp"]
    for val in out.glob("carry-1/val/SetA/*.png"):
        assert Image.open(val).size == (32, 32)  # cropped from 64x48 as validation.crop=32 crops
