"""``zoo restore`` and ``zoo list`` run in-process: files, folders, bad inputs, outputs."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

import zoo
from zoo.cli import main
from zoo.cli.list_cmd import format_count

RNG = np.random.default_rng(0)
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def rgb(h: int = 32, w: int = 48) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def jpeg(pixels: np.ndarray, **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=30, **options)
    return buf.getvalue()


def restore(*args: str | Path) -> int:
    return main(["restore", "-m", "jpeg", *map(str, args)])


def test_bad_inputs_reported_and_the_rest_restored(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    good = jpeg(rgb())
    (tmp_path / "a-good.jpg").write_bytes(good)
    Image.fromarray(rgb()).save(tmp_path / "z-good.png")
    bad = {
        "empty.jpg": b"",
        "text.png": b"hello, not an image",
        "truncated.jpg": good[: len(good) // 2],
        "corrupt.jpg": good.replace(b"\xff\xc4", b"\xff\xc4\xff\xff\xff\xff", 1),
        "tiny.png": None,
        "bomb.png": None,
    }
    for name, data in bad.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
    Image.fromarray(rgb(4, 48)).save(tmp_path / "tiny.png")
    Image.fromarray(rgb(100, 100)).save(tmp_path / "bomb.png")
    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", "5000")

    status = restore(tmp_path, tmp_path / "missing.jpg")
    err = capsys.readouterr().err
    assert status == 1
    assert (tmp_path / "a-good.restored.png").is_file()
    assert (tmp_path / "z-good.restored.png").is_file()
    failed = [line for line in err.splitlines() if line.startswith("failed:")]
    assert len(failed) == len(bad) + 1
    expected = {"empty.jpg": "empty file", "text.png": "not an image", "truncated.jpg": "truncated",
                "corrupt.jpg": "corrupt", "tiny.png": "smaller than the minimum",
                "bomb.png": "decompression bomb", "missing.jpg": "no such file"}
    for name, problem in expected.items():
        assert any(name in line and problem in line for line in failed), (name, failed)
    assert "Traceback" not in err
    assert "restored 2 of 9 images" in err and "7 failed" in err
    assert not any((tmp_path / f"{Path(n).stem}.restored.png").exists() for n in bad)


def test_outputs_are_lossless_and_carry_metadata(tmp_path: Path) -> None:
    source = rgb()
    Image.fromarray(source).save(tmp_path / "in.png", icc_profile=SRGB)
    assert restore(tmp_path / "in.png") == 0
    with Image.open(tmp_path / "in.restored.png") as out:
        np.testing.assert_array_equal(np.asarray(out), source)  # identity model: exact
        assert out.info["icc_profile"] == SRGB

    exif = Image.Exif()
    exif[0x0112], exif[0x010E] = 8, "caption"  # orientation 8: rotate 90 counter-clockwise
    (tmp_path / "photo.jpg").write_bytes(jpeg(rgb(32, 48), exif=exif.tobytes()))
    assert restore(tmp_path / "photo.jpg", "-o", tmp_path / "photo.webp") == 0
    with Image.open(tmp_path / "photo.webp") as out:
        assert out.format == "WEBP" and out.size == (32, 48)  # upright
        assert out.getexif()[0x010E] == "caption" and 0x0112 not in out.getexif()


def test_grey_and_alpha_kept(tmp_path: Path) -> None:
    Image.fromarray(rgb()[..., 0], "L").save(tmp_path / "g.jpg")
    Image.fromarray(np.dstack([rgb(), rgb()[..., 0]]), "RGBA").save(tmp_path / "a.png")
    assert restore(tmp_path / "g.jpg", tmp_path / "a.png") == 0
    with Image.open(tmp_path / "g.restored.png") as out:
        assert out.mode == "L"
    with Image.open(tmp_path / "a.restored.png") as out, Image.open(tmp_path / "a.png") as src:
        assert out.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(out), np.asarray(src))


def test_out_dir_keeps_subfolders_and_skips_results(tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    Image.fromarray(rgb()).save(tmp_path / "in" / "top.bmp")
    Image.fromarray(rgb()).save(tmp_path / "in" / "sub" / "deep.tif")
    Image.fromarray(rgb()).save(tmp_path / "in" / "old.restored.png")  # an earlier result
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    assert restore(tmp_path / "in", "-r", "--out-dir", tmp_path / "out") == 0
    found = sorted(p.relative_to(tmp_path / "out").as_posix()
                   for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert found == ["sub/deep.restored.png", "top.restored.png"]



def test_format_names_the_results_format(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--out-dir wrote PNG only: --format chooses; the results are not restored again by a later
    run, an image the format cannot hold is one failed line and the others are written, and -o
    names its format by its suffix."""
    from zoo.image_output import WRITE_FORMATS
    from zoo.restore_jobs import RESULT_FORMATS

    assert {f".{name}" for name in RESULT_FORMATS} <= set(WRITE_FORMATS)
    assert set(WRITE_FORMATS.values()) == {WRITE_FORMATS[f".{name}"] for name in RESULT_FORMATS}
    (tmp_path / "in").mkdir()
    Image.fromarray(rgb()).save(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "b.jpg").write_bytes(jpeg(rgb()))
    Image.fromarray(np.dstack([rgb(), np.full((32, 48), 128, np.uint8)])).save(tmp_path / "in" / "c.png")
    assert restore(tmp_path / "in", "--out-dir", tmp_path / "out", "--format", "jpg") == 1
    assert "c.restored.jpg: JPEG files cannot keep the alpha channel" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.restored.jpg", "b.restored.jpg"]
    assert {Image.open(p).format for p in (tmp_path / "out").iterdir()} == {"JPEG"}
    assert restore(tmp_path / "in" / "a.png", "--format", "webp") == 0
    assert Image.open(tmp_path / "in" / "a.restored.webp").format == "WEBP"
    capsys.readouterr()
    assert restore(tmp_path / "in", "--format", "webp", "--skip-existing") == 0  # WebP keeps alpha
    assert "1 earlier result (*.restored.*) not restored again" in capsys.readouterr().err
    assert restore(tmp_path / "in" / "a.png", "-o", tmp_path / "x.png", "--format", "jpg") == 2
    assert "error: --format jpg with -o: -o names its format by its suffix" in capsys.readouterr().err
    # -o takes .jpeg and .tiff: so does --format, in any case (a CLI auditor's)
    assert restore(tmp_path / "in" / "a.png", "--format", "JPEG", "--out-dir", tmp_path / "jpeg") == 0
    assert restore(tmp_path / "in" / "a.png", "--format", "tiff", "--out-dir", tmp_path / "tiff") == 0
    assert restore(tmp_path / "in" / "a.png", "--format", "PNG", "--out-dir", tmp_path / "png") == 0
    assert Image.open(tmp_path / "png" / "a.restored.png").format == "PNG"
    assert Image.open(tmp_path / "jpeg" / "a.restored.jpg").format == "JPEG"
    assert Image.open(tmp_path / "tiff" / "a.restored.tif").format == "TIFF"
    with pytest.raises(SystemExit, match="2"):
        restore(tmp_path / "in" / "a.png", "--format", "gif")
    assert "argument --format: invalid choice: 'gif' (choose from" in capsys.readouterr().err

def test_standard_input_is_refused_as_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``zoo restore -`` said "failed: -: no such file", exit 1, as a missing file (a CLI
    auditor's); a file that is named ``-`` is still an input."""
    monkeypatch.chdir(tmp_path)
    assert restore("-") == 2
    assert capsys.readouterr().err == ("error: -: images are not read from standard input; name "
                                       "the files (zoo restore photo.jpg)\n")
    Path("-").write_bytes(jpeg(rgb()))
    assert restore("-", "-m", "jpeg", "-o", "dash.png") == 0 and Path("dash.png").is_file()


def test_output_flag_needs_a_single_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for name in ("a.png", "b.png"):
        Image.fromarray(rgb()).save(tmp_path / name)
    status = restore(tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "x.png")
    assert status == 2 and "exactly one input" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_inputs_sharing_a_name_get_their_format_in_the_result(tmp_path: Path) -> None:
    Image.fromarray(rgb()).save(tmp_path / "same.png")
    (tmp_path / "same.jpg").write_bytes(jpeg(rgb()))
    Image.fromarray(rgb()).save(tmp_path / "other.png")
    assert restore(tmp_path, "--out-dir", tmp_path / "out") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "other.restored.png", "same-jpg.restored.png", "same-png.restored.png"]


def test_output_without_suffix_never_overwrites_the_input(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    Image.fromarray(rgb()).save(tmp_path / "pic.png")
    before = (tmp_path / "pic.png").read_bytes()
    assert restore(tmp_path / "pic.png", "-o", tmp_path / "pic") == 1  # pic -> pic.png: the input
    assert "would overwrite the input" in capsys.readouterr().err
    assert (tmp_path / "pic.png").read_bytes() == before
    assert restore(tmp_path / "pic.png", "-o", tmp_path / "clean") == 0
    assert f"-> {tmp_path / 'clean.png'}" in capsys.readouterr().err  # where it really wrote


def test_output_that_is_a_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    Image.fromarray(rgb()).save(tmp_path / "pic.png")
    (tmp_path / "out").mkdir()
    for output in (tmp_path / "out", f"{tmp_path / 'new'}/"):
        assert restore(tmp_path / "pic.png", "-o", output) == 2
        assert "is a folder; use --out-dir" in capsys.readouterr().err
    assert list((tmp_path / "out").iterdir()) == [] and not (tmp_path / "new.png").exists()


def test_empty_folder_does_not_stop_the_others(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    Image.fromarray(rgb()).save(tmp_path / "pic.png")
    assert restore(tmp_path / "empty", tmp_path / "pic.png") == 1
    err = capsys.readouterr().err
    assert "empty: no image files in this folder" in err and "1 other problem" in err
    assert (tmp_path / "pic.restored.png").is_file()


def test_decoder_warnings_are_one_line_naming_the_file(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    exif = Image.Exif()
    exif[0x010E] = "caption"
    (tmp_path / "w.jpg").write_bytes(jpeg(rgb(), exif=exif.tobytes()[:-6]))  # a cut-short IFD
    assert restore(tmp_path / "w.jpg") == 0
    lines = capsys.readouterr().err.splitlines()
    warned = [line for line in lines if line.startswith("warning:")]
    assert warned and all(line.startswith(f"warning: {tmp_path / 'w.jpg'}: ") for line in warned)
    assert not any("Warning:" in line or "warnings.warn" in line for line in lines)


def test_model_without_weights_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from zoo import registry

    untrained = dataclasses.replace(zoo.get_model_info("unet-l1"), name="x-untrained", weights=None)
    monkeypatch.setitem(registry._MODELS, untrained.name, untrained)
    Image.fromarray(rgb()).save(tmp_path / "a.png")
    assert main(["restore", "-m", "x-untrained", str(tmp_path / "a.png")]) == 2
    err = capsys.readouterr().err
    assert re.search(r"no (pre)?trained weights", err) and "zoo list" in err
    assert not (tmp_path / "a.restored.png").exists()


def test_real_network_with_explicit_weights(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from zoo.weights import save_weights

    name = "unet-l1" if "unet-l1" in zoo.list_models() else "arnet-nogan"
    save_weights(zoo.create_model(name), tmp_path / "w.safetensors")
    (tmp_path / "p.jpg").write_bytes(jpeg(rgb(40, 56)))
    status = main(["restore", "-m", name, "--weights", str(tmp_path / "w.safetensors"),
                   "--tile", "32", str(tmp_path / "p.jpg")])
    err = capsys.readouterr().err
    assert status == 0, err
    assert "w.safetensors" in err  # says where the weights came from
    with Image.open(tmp_path / "p.restored.png") as out:
        assert out.size == (56, 40) and out.mode == "RGB"


def test_sample_image(tmp_path: Path) -> None:
    assert main(["restore", "-m", "jpeg", "--sample", "chelsea", "--out-dir", str(tmp_path)]) == 0
    with Image.open(tmp_path / "chelsea-q10.jpg") as src, \
            Image.open(tmp_path / "chelsea-q10.restored.png") as out:
        assert src.format == "JPEG" and out.size == src.size == (451, 300)


def test_the_sample_never_replaces_a_file_of_that_name(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A photo the user had named ``astronaut-q10.jpg`` (given as an input, too) was replaced
    by the sample (a CLI auditor's); the sample itself, written by an earlier run, is fine."""
    monkeypatch.chdir(tmp_path)
    photo = jpeg(rgb())
    Path("astronaut-q10.jpg").write_bytes(photo)
    assert restore("astronaut-q10.jpg", "--sample", "astronaut", "-m", "jpeg") == 2
    assert capsys.readouterr().err == (
        f"error: --sample astronaut: {tmp_path}/astronaut-q10.jpg is already there and is not "
        "the sample, which would replace it; move it, or write the sample elsewhere with --out-dir\n")
    assert Path("astronaut-q10.jpg").read_bytes() == photo and not Path("astronaut-q10.restored.png").exists()
    Path("out").mkdir()
    Path("out/astronaut-q10.jpg").symlink_to(tmp_path / "astronaut-q10.jpg")
    assert restore("--sample", "astronaut", "-m", "jpeg", "--out-dir", "out") == 2
    assert "choose another --out-dir\n" in capsys.readouterr().err
    assert Path("astronaut-q10.jpg").read_bytes() == photo
    Path("out/astronaut-q10.jpg").unlink()
    # A file of the sample's very size, and a link to nothing, are not the sample either.
    from zoo.degrade import jpeg_bytes
    from zoo.samples import sample_file_bytes, sample_image

    sample = sample_file_bytes("astronaut", 10)
    assert sample == jpeg_bytes(sample_image("astronaut"), 10)  # the q10 sample, as said
    Path("out/astronaut-q10.jpg").write_bytes(b"\0" * len(sample))
    assert restore("--sample", "astronaut", "-m", "jpeg", "--out-dir", "out") == 2
    assert Path("out/astronaut-q10.jpg").read_bytes() == b"\0" * len(sample)
    Path("out/astronaut-q10.jpg").unlink()
    Path("out/astronaut-q10.jpg").symlink_to(tmp_path / "nowhere.jpg")
    assert restore("--sample", "astronaut", "-m", "jpeg", "--out-dir", "out") == 2
    assert Path("out/astronaut-q10.jpg").is_symlink()
    Path("out/astronaut-q10.jpg").unlink()
    capsys.readouterr()
    for _ in range(2):  # the sample again over the sample: a rerun
        assert restore("--sample", "astronaut", "-m", "jpeg", "--out-dir", "out") == 0
    assert sorted(p.name for p in Path("out").iterdir()) == ["astronaut-q10.jpg", "astronaut-q10.restored.png"]


def test_list(capsys: pytest.CaptureFixture) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in zoo.list_models():
        assert name in out
    assert "not needed" in out  # the identity needs no weights
    assert main(["list", "no-such-*"]) == 2


def test_list_names_is_one_name_a_line_for_scripts(capsys: pytest.CaptureFixture,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`zoo list | head -1` gave a title padded with spaces, then a box table (a CLI auditor's):
    --names prints the names alone, building no network."""
    import zoo.registry

    monkeypatch.setattr(zoo.registry, "create_model", lambda *a, **k: pytest.fail("built"))
    assert main(["list", "--names"]) == 0
    assert capsys.readouterr().out == "".join(f"{name}\n" for name in zoo.list_models())
    assert main(["list", "unet*", "--names"]) == 0
    assert capsys.readouterr().out == "unet-l1\n"
    assert main(["list", "nothing*", "--names"]) == 2


def test_format_count() -> None:
    assert [format_count(n) for n in (0, 950, 12_345, 2_350_000, 123_456_789, 1_200_000_000)] == \
        ["0", "950", "12.3K", "2.35M", "123M", "1.2G"]


@pytest.mark.parametrize("failure, options, hint", [
    ("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you "
     "tried to allocate 4831838208 bytes.", (), "free memory for it (automatic tiling retries in "
     "tiles down to 128 px); the image itself"),
    # oneDNN under `ulimit -v`: it read as "the model failed on this image"
    ("could not create a primitive", ("--tile", "256"), "use a smaller --tile than 256 (e.g. "
     "--tile 128); the image itself"),  # it said "e.g. --tile 256" and "--device cpu" on a CPU
    ("could not create a primitive", ("--tile", "0"), "restore it in tiles (leave out --tile 0)"),
])
def test_running_out_of_memory_on_one_image_does_not_stop_the_batch(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
        failure: str, options: tuple[str, ...], hint: str) -> None:
    import zoo.restore

    real = zoo.restore.restore_loaded

    def restore_loaded(model, image, **kw):  # noqa: ANN001, ANN003, ANN202
        if image.source.name == "a-big.png":  # what torch raises when the CPU allocator fails
            raise RuntimeError(failure)
        return real(model, image, **kw)

    monkeypatch.setattr(zoo.restore, "restore_loaded", restore_loaded)
    for name in ("a-big.png", "b.png", "c.png"):
        Image.fromarray(rgb()).save(tmp_path / name)
    assert restore(tmp_path, *options) == 1
    err = capsys.readouterr().err
    assert f"a-big.png: out of memory; {hint}" in err and "Traceback" not in err, err
    assert "--device cpu" not in err
    assert (tmp_path / "b.restored.png").is_file() and (tmp_path / "c.restored.png").is_file()


@pytest.mark.parametrize("code", ["ENOSPC", "EDQUOT"])
def test_a_full_disk_stops_the_images_whose_results_go_there(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
        code: str) -> None:
    """Each image was restored in full and then dropped, the disk being full: hours of a batch
    of large photographs for nothing. After the first, the others going there are not run."""
    import errno

    import zoo.restore

    ran = []
    number = getattr(errno, code)

    def full_disk(model, source, target, **kw):  # noqa: ANN001, ANN003, ANN202
        ran.append(source)
        raise OSError(number, os.strerror(number), str(target))

    monkeypatch.setattr(zoo.restore, "restore_file", full_disk)
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (tmp_path / name).write_bytes(jpeg(rgb()))
    assert restore(tmp_path, "--out-dir", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert ran == [tmp_path / "a.jpg"]
    assert (f"failed: {tmp_path / 'a.jpg'}: cannot write {tmp_path / 'out' / 'a.restored.png'}: "
            f"{os.strerror(number)}") in err
    for name in ("b.jpg", "c.jpg"):
        assert (f"failed: {tmp_path / name}: not restored, the disk of {tmp_path / 'out'} being "
                "full (a result could not be written there); free some space and rerun with "
                "--skip-existing") in err
    assert "restored 0 of 3 images" in err and "3 failed" in err


def test_a_failure_that_only_names_a_full_disk_stops_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The full disk was found by the words in the failure's line: an input named after them,
    failing for another reason, stopped the rest of the batch."""
    import errno

    import zoo.restore

    ran = []

    def denied(model, source, target, **kw):  # noqa: ANN001, ANN003, ANN202
        ran.append(source.name)
        raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(target))

    monkeypatch.setattr(zoo.restore, "restore_file", denied)
    for name in ("a No space left on device.jpg", "b.jpg"):
        (tmp_path / name).write_bytes(jpeg(rgb()))
    assert restore(tmp_path) == 1
    assert ran == ["a No space left on device.jpg", "b.jpg"]


def test_an_input_named_twice_is_restored_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    Image.fromarray(rgb()).save(tmp_path / "a.png")
    assert restore(tmp_path, tmp_path / "a.png") == 0
    assert "the same file as" not in capsys.readouterr().err  # one name, no link: nothing to note
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "a.restored.png"]
    assert restore(tmp_path / "a.png", tmp_path / "a.png", "-o", tmp_path / "x.png") == 0
    assert (tmp_path / "x.png").is_file()


def test_a_link_to_another_input_is_named_in_a_note(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A link beside the file it points at was left out without a word (a data engineer's
    audit: 'restored 1 of 1', no b.restored.png): the file is restored once, and a note says so."""
    (tmp_path / "a.jpg").write_bytes(jpeg(rgb()))
    (tmp_path / "b.jpg").symlink_to(tmp_path / "a.jpg")
    assert restore(tmp_path, "--out-dir", tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert (f"note: {tmp_path}/b.jpg: the same file as {tmp_path}/a.jpg (a link to it, or it to "
            "this), restored once, under that name") in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.restored.png"]


@pytest.mark.parametrize("device,message", [("gpu", "not a torch device"), ("cuda:7", "CUDA"),
                                            ("xpu", "not xpu")])
def test_unusable_device_is_one_line_before_anything_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture, device: str, message: str) -> None:
    import torch

    if torch.cuda.device_count() > 7:
        pytest.skip("cuda:7 is here")
    (tmp_path / "a.jpg").write_bytes(jpeg(rgb()))
    assert restore(tmp_path / "a.jpg", "--device", device) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: device") and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]


def test_skip_existing_resumes_a_batch(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for name in ("a", "b", "c"):
        Image.fromarray(rgb()).save(tmp_path / f"{name}.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.restored.png").write_bytes(b"kept as it is")  # from an interrupted run
    assert restore(tmp_path, "--out-dir", tmp_path / "out", "--skip-existing") == 0
    err = capsys.readouterr().err
    assert "1 result already there, left as it is (--skip-existing)" in err
    # The summary counts every image given, the kept result too.
    assert "restored 2 of 3 images" in err and "; 1 already there, kept" in err
    assert (tmp_path / "out" / "a.restored.png").read_bytes() == b"kept as it is"
    assert (tmp_path / "out" / "c.restored.png").is_file()
    assert restore(tmp_path, "--out-dir", tmp_path / "out") == 0  # without the flag: all again
    assert (tmp_path / "out" / "a.restored.png").read_bytes() != b"kept as it is"


def test_the_default_model_is_arnet_nogan() -> None:
    """docs/restore.md: ``--model NAME`` (default ``arnet-nogan``)."""
    from zoo.cli import build_parser

    assert build_parser().parse_args(["restore", "x.jpg"]).model == "arnet-nogan"


def test_skip_existing_does_not_keep_an_input_as_its_own_result(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``-o in.png in.png --skip-existing``: the result "already there" is the input itself."""
    Image.fromarray(rgb()).save(tmp_path / "in.png")
    before = (tmp_path / "in.png").read_bytes()
    assert restore(tmp_path / "in.png", "-o", tmp_path / "in.png", "--skip-existing") == 1
    err = capsys.readouterr().err
    assert "in.png: the output would overwrite the input" in err and "already there" not in err
    assert (tmp_path / "in.png").read_bytes() == before


def test_a_write_protected_result_is_not_replaced(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import zoo.atomic

    for name in ("a", "b"):
        Image.fromarray(rgb()).save(tmp_path / f"{name}.png")
    protected, ordinary = tmp_path / "a.restored.png", tmp_path / "b.restored.png"
    protected.write_bytes(b"keep me")
    protected.chmod(0o444)
    ordinary.write_bytes(b"old")
    ordinary.chmod(0o640)
    real_access = os.access
    # Root may write anywhere, so the test asks access() as an ordinary user would be answered.
    monkeypatch.setattr(zoo.atomic.os, "access",
                        lambda p, m: real_access(p, m) and (os.stat(p).st_mode & 0o222 != 0))
    assert restore(tmp_path / "a.png", tmp_path / "b.png") == 1
    err = capsys.readouterr().err
    assert f"cannot write {protected}: Permission denied (the file is write-protected)" in err
    assert protected.read_bytes() == b"keep me"
    assert ordinary.read_bytes() != b"old" and ordinary.stat().st_mode & 0o777 == 0o640


@pytest.fixture
def restored_sources(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The inputs the model actually ran on (a spy on the per-file step)."""
    from zoo.cli import restore_cmd

    ran: list[Path] = []
    real = restore_cmd._restore_one

    def spy(model, job, tile):
        ran.append(job.source)
        return real(model, job, tile)

    monkeypatch.setattr(restore_cmd, "_restore_one", spy)
    return ran


def test_unusable_destinations_are_refused_before_any_image_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture, restored_sources: list[Path]) -> None:
    (tmp_path / "a.jpg").write_bytes(jpeg(rgb()))
    (tmp_path / "file.txt").write_text("not a folder")
    (tmp_path / "dir").mkdir()
    cases = [(["--out-dir", tmp_path / "file.txt"], f"--out-dir {tmp_path / 'file.txt'}: "
              f"{tmp_path / 'file.txt'} is a file, not a folder"),
             (["--out-dir", tmp_path / "file.txt" / "sub"], "file.txt is a file, not a folder"),
             (["-o", tmp_path / "q.xyz"], "cannot write '.xyz' files; use one of"),
             (["--suffix", "/../escaped"], "--suffix '/../escaped' contains a path separator"),
             (["--suffix", ""], "--suffix must not be empty"),
             (["-o", tmp_path / "dir"], "is a folder; use --out-dir")]  # before the model line
    for options, message in cases:
        assert restore(tmp_path / "a.jpg", *options) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert restored_sources == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "dir", "file.txt"]


def test_a_folder_that_cannot_be_written_is_refused_up_front(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
        restored_sources: list[Path]) -> None:
    """Results go beside their inputs; a read-only folder's images are refused before the model
    runs on them (simulated: this suite may run as root, who may write anywhere), the rest go on."""
    import errno
    import tempfile

    for name in ("ro", "ok"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.jpg").write_bytes(jpeg(rgb()))
    real = tempfile.TemporaryFile

    def read_only(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == tmp_path / "ro":
            raise OSError(errno.EROFS, "Read-only file system", str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    assert restore(tmp_path / "ro", tmp_path / "ok") == 1
    err = capsys.readouterr().err
    assert (f"failed: {tmp_path / 'ro' / 'ro.jpg'}: cannot write into {tmp_path / 'ro'} "
            "(Read-only file system); write the results elsewhere with --out-dir") in err, err
    assert "restored 1 of 2 images" in err
    assert restored_sources == [tmp_path / "ok" / "ok.jpg"]
    assert restore(tmp_path / "ro", "--out-dir", tmp_path / "out") == 0  # elsewhere it works


def test_a_folder_of_earlier_results_says_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    Image.fromarray(rgb()).save(tmp_path / "pic.restored.png")
    assert restore(tmp_path) == 1
    assert (f"{tmp_path}: no image files in this folder, only 1 earlier result (*.restored.*), "
            "which are not restored again") in capsys.readouterr().err


def test_what_a_folder_holds_besides_its_images_is_noted(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    """Files passed over are named in one note per folder (hidden ones, and those in hidden
    folders, not counted); they are not problems: the exit status stays 0."""
    (tmp_path / "sub").mkdir()
    Image.fromarray(rgb()).save(tmp_path / "pic.jpg")
    Image.fromarray(rgb()).save(tmp_path / "pic.restored.png")
    Image.fromarray(rgb()).save(tmp_path / "anim.gif")
    (tmp_path / ".git").mkdir()
    for name in ("notes.txt", "sub/raw.cr2", ".DS_Store", ".git/HEAD",
                 *(f"x{k}.xmp" for k in range(5))):
        (tmp_path / name).write_bytes(b"not an image")
    assert restore(tmp_path, "-r") == 0
    err = capsys.readouterr().err
    assert (f"note: {tmp_path}: 1 earlier result (*.restored.*) not restored again; 8 files "
            "passed over, not being images zoo reads: anim.gif, notes.txt, x0.xmp, x1.xmp, "
            "x2.xmp and 3 more\n") in err, err
    assert "restored 1 of 1 image" in err
    (tmp_path / "pic.restored.png").unlink()
    assert restore(tmp_path / "pic.jpg", tmp_path / "sub") == 1  # no images there: a problem
    assert "note:" not in capsys.readouterr().err  # files given by name, or a failed folder


def test_same_names_of_one_format_clash_under_their_own_name(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Two x.jpg from two folders into one --out-dir: the format would not tell them apart, so
    the first keeps its plain name and the second is reported; both count as given."""
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.jpg").write_bytes(jpeg(rgb()))
    assert restore(tmp_path / "one" / "x.jpg", tmp_path / "two" / "x.jpg",
                   "--out-dir", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["x.restored.png"]
    assert "would overwrite that of" in err and "restored 1 of 2 images" in err


def test_results_differing_in_case_alone_clash_where_the_file_system_ignores_case(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """IMG.JPG and img.jpg: their results IMG.restored.png and img.restored.png are two files
    here, and one on macOS or Windows, where the second would replace the first in silence."""
    from zoo import restore_jobs

    (tmp_path / "IMG.JPG").write_bytes(jpeg(rgb()))
    if (tmp_path / "img.jpg").exists():
        pytest.skip("this file system ignores case: IMG.JPG and img.jpg are one file here")
    (tmp_path / "img.jpg").write_bytes(jpeg(rgb()))
    assert not restore_jobs._case_blind(tmp_path)  # this file system tells case apart (probed)
    real_exists = Path.exists

    def case_blind_exists(path: Path, *args, **kwargs) -> bool:  # noqa: ANN002, ANN003
        return real_exists(path) or any(
            p.name.casefold() == path.name.casefold() for p in path.parent.iterdir())

    with monkeypatch.context() as blind:  # the probe on a file system that ignores case
        blind.setattr(Path, "exists", case_blind_exists)
        assert restore_jobs._case_blind(tmp_path)
    assert not list(tmp_path.glob(".zoo-case-probe-*"))  # the probe's file is gone
    assert restore(tmp_path / "IMG.JPG", tmp_path / "img.jpg") == 0
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["IMG.restored.png",
                                                              "img.restored.png"]
    capsys.readouterr()
    monkeypatch.setattr(restore_jobs, "_case_blind", lambda folder: True)
    assert restore(tmp_path / "IMG.JPG", tmp_path / "img.jpg", "--out-dir", tmp_path / "o") == 1
    err = capsys.readouterr().err
    assert (f"failed: {tmp_path / 'img.jpg'}: its result {tmp_path / 'o' / 'img.restored.png'} "
            f"would overwrite that of {tmp_path / 'IMG.JPG'}") in err
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["IMG.restored.png"]


def test_a_file_system_without_inode_numbers_is_no_clash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Some mounts report inode 0 for every file: existing results must not all look like the
    inputs they share that number with."""
    import os

    for name in ("a.jpg", "b.jpg"):
        (tmp_path / name).write_bytes(jpeg(rgb()))
    Image.fromarray(rgb()).save(tmp_path / "b.restored.png")  # an earlier result, replaced
    real_stat = os.stat

    def no_inodes(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        info = real_stat(path, *args, **kwargs)
        return os.stat_result((info.st_mode, 0, *info[2:10]))

    monkeypatch.setattr(os, "stat", no_inodes)
    assert restore(tmp_path / "a.jpg", tmp_path / "b.jpg") == 0


def test_a_result_that_is_another_input_is_refused_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture, restored_sources: list[Path]) -> None:
    """x.jpg's result x.restored.png, given as an input too (a user's image, or an earlier
    result picked up by `zoo restore *`), is left as it is; the other input is restored."""
    (tmp_path / "x.jpg").write_bytes(jpeg(rgb()))
    Image.fromarray(rgb()).save(tmp_path / "x.restored.png")
    mine = (tmp_path / "x.restored.png").read_bytes()
    assert restore(tmp_path / "x.jpg", tmp_path / "x.restored.png") == 1
    err = capsys.readouterr().err
    assert (f"failed: {tmp_path / 'x.jpg'}: its result {tmp_path / 'x.restored.png'} would "
            "overwrite another input of this run") in err
    assert "restored 1 of 2 images" in err and "Traceback" not in err
    assert (tmp_path / "x.restored.png").read_bytes() == mine
    assert restored_sources == [tmp_path / "x.restored.png"]


def test_restoring_a_folder_again_with_skip_existing_keeps_the_earlier_results(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`zoo restore * --skip-existing` a second time: x.jpg's result is there (and an input
    now), so it is kept, not refused as a clash; the earlier result itself is restored anew."""
    (tmp_path / "x.jpg").write_bytes(jpeg(rgb()))
    assert restore(tmp_path / "x.jpg") == 0
    first = (tmp_path / "x.restored.png").read_bytes()
    capsys.readouterr()
    assert restore(tmp_path / "x.jpg", tmp_path / "x.restored.png", "--skip-existing") == 0
    err = capsys.readouterr().err
    assert "restored 1 of 2 images" in err and "1 already there, kept" in err
    assert "would overwrite" not in err
    assert (tmp_path / "x.restored.png").read_bytes() == first
    assert (tmp_path / "x.restored.restored.png").is_file()


def test_a_symbolic_link_loop_is_one_failure_and_the_rest_is_restored(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Path.resolve() raised RuntimeError('Symlink loop') on Python 3.11: a traceback, and
    ok.jpg was not restored either."""
    (tmp_path / "ok.jpg").write_bytes(jpeg(rgb()))
    (tmp_path / "a.jpg").symlink_to(tmp_path / "b.jpg")
    (tmp_path / "b.jpg").symlink_to(tmp_path / "a.jpg")
    assert restore(tmp_path / "ok.jpg", tmp_path / "a.jpg") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "restored 1 of 2 images" in err
    assert f"failed: {tmp_path / 'a.jpg'}: " in err
    assert (tmp_path / "ok.restored.png").is_file()


def test_a_result_reaching_another_input_through_a_link_or_suffix_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    Image.fromarray(rgb()).save(tmp_path / "img.png")
    Image.fromarray(rgb()).save(tmp_path / "img-1.png")
    mine = (tmp_path / "img-1.png").read_bytes()
    (tmp_path / "link.png").symlink_to(tmp_path / "img-1.png")
    assert restore(tmp_path / "img.png", tmp_path / "link.png", "--suffix", "-1") == 1
    err = capsys.readouterr().err
    assert f"({tmp_path / 'link.png'})" in err and "restored 1 of 2 images" in err
    assert (tmp_path / "img-1.png").read_bytes() == mine
    assert (tmp_path / "link-1.png").is_file()


def test_results_a_format_cannot_hold_are_one_line_each(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Past WebP's 16383 or JPEG's 65500 pixels a side: one line naming the output; an EXIF
    block too long for a JPEG marker is left out with a warning, and the image written."""
    Image.fromarray(rgb(8, 16384)).save(tmp_path / "wide.png")
    Image.fromarray(rgb(8, 65501)).save(tmp_path / "wider.png")
    exif = Image.Exif()
    exif[0x010E] = "x" * 70_000
    Image.fromarray(rgb()).save(tmp_path / "big.png", exif=exif.tobytes())
    for name, output, reason in [("wide.png", "w.webp", "WEBP files are at most 16383 pixels"),
                                 ("wider.png", "w.jpg", "JPEG files are at most 65500 pixels")]:
        assert restore(tmp_path / name, "-o", tmp_path / output) == 1
        err = capsys.readouterr().err
        assert (f"failed: {tmp_path / name}: cannot write {tmp_path / output}: the image is "
                in err and reason in err and "Traceback" not in err), err
        assert not (tmp_path / output).exists()
    assert restore(tmp_path / "big.png", "-o", tmp_path / "o.jpg") == 0
    err = capsys.readouterr().err
    assert f"warning: {tmp_path / 'o.jpg'}: the EXIF block (70," in err and "Traceback" not in err
    with Image.open(tmp_path / "o.jpg") as out:
        assert out.format == "JPEG" and "exif" not in out.info


@pytest.fixture
def inferred(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the images the model actually ran on (a spy on the restoring step)."""
    import zoo.restore

    ran: list[str] = []
    real = zoo.restore.restore_loaded

    def spy(model, image, **kw):  # noqa: ANN001, ANN003, ANN202
        ran.append(image.source.name)
        return real(model, image, **kw)

    monkeypatch.setattr(zoo.restore, "restore_loaded", spy)
    return ran


def test_outputs_that_cannot_be_written_are_found_before_the_model_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
        inferred: list[str]) -> None:
    import os

    import zoo.atomic

    Image.fromarray(np.dstack([rgb(), rgb()[..., 0]]), "RGBA").save(tmp_path / "alpha.png")
    Image.fromarray(rgb(8, 16384)).save(tmp_path / "wide.png")
    for name in ("guarded", "blocked", "good"):
        Image.fromarray(rgb()).save(tmp_path / f"{name}.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "guarded.restored.png").write_bytes(b"keep me")
    (tmp_path / "out" / "guarded.restored.png").chmod(0o444)
    (tmp_path / "out" / "blocked.restored.png").mkdir()  # a folder in the result's place
    real_access = os.access  # root may write anywhere: answer as an ordinary user would be
    monkeypatch.setattr(zoo.atomic.os, "access",
                        lambda p, m: real_access(p, m) and (os.stat(p).st_mode & 0o222 != 0))
    for name, output in [("alpha.png", "a.jpg"), ("alpha.png", "a.bmp"), ("wide.png", "w.webp")]:
        assert restore(tmp_path / name, "-o", tmp_path / output) == 1
        assert f"cannot write {tmp_path / output}: " in capsys.readouterr().err
    assert restore(tmp_path / "guarded.png", tmp_path / "blocked.png", tmp_path / "good.png",
                   "--out-dir", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "guarded.restored.png: Permission denied (the file is write-protected)" in err
    assert "blocked.restored.png: Is a directory" in err and "restored 1 of 3 images" in err
    assert inferred == ["good.png"]


def test_usage_errors_come_before_the_model_and_the_sample(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.cli import restore_cmd

    loaded: list[str] = []
    monkeypatch.setattr(restore_cmd, "_load_model", lambda args, console: loaded.append("x"))
    monkeypatch.chdir(tmp_path)
    Image.fromarray(rgb()).save(tmp_path / "a.png")
    (tmp_path / "clean.png").mkdir()
    assert restore(tmp_path / "a.png", "-o", tmp_path / "clean") == 2
    err = capsys.readouterr().err
    assert f"-o {tmp_path / 'clean'} writes {tmp_path / 'clean.png'}, which is a folder" in err
    assert restore("--sample", "camera", tmp_path / "a.png", "-o", tmp_path / "x.png") == 2
    assert "exactly one input image, got 2" in capsys.readouterr().err
    assert loaded == [] and sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "clean.png"]


def test_names_with_control_characters_stay_on_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A newline or a terminal escape in a file name is shown escaped (\\n, \\x1b), so that each
    message stays one line and the terminal is not driven by a name."""
    good, bad = tmp_path / "go\nod.png", tmp_path / "b\x1b[31mad.jpg"
    Image.fromarray(rgb()).save(good, format="PNG")
    bad.write_bytes(jpeg(rgb())[:200])
    assert restore(good) == 0
    err = capsys.readouterr().err
    assert f"{tmp_path}/go\\nod.png -> {tmp_path}/go\\nod.restored.png\n" in err
    assert restore(good, bad) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and len(err.splitlines()) == 4  # model, IN -> OUT, failed, summary
    assert f"failed: {tmp_path}/b\\x1b[31mad.jpg: truncated" in err
    (tmp_path / "fol\nder").mkdir()
    assert restore(good, "-o", tmp_path / "fol\nder") == 2
    assert capsys.readouterr().err == f"error: -o {tmp_path}/fol\\nder is a folder; use " \
        f"--out-dir {tmp_path}/fol\\nder to write into it\n"


@pytest.mark.parametrize("rank", ["0", "1"])
def test_a_torchrun_launch_is_refused_once(tmp_path: Path, capsys: pytest.CaptureFixture,
                                           monkeypatch: pytest.MonkeyPatch, rank: str) -> None:
    """Every rank would restore every image (each writing them all, each printing its lines):
    rank 0 refuses in one line, the others end quietly."""
    Image.fromarray(rgb()).save(tmp_path / "a.png")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", rank)
    code = restore(tmp_path / "a.png", "--out-dir", tmp_path / "out")
    err = capsys.readouterr().err
    if rank == "0":
        assert (code, err) == (2, "error: zoo restore runs in one process; run it without torchrun\n")
    else:
        assert (code, err) == (0, "")
    assert not (tmp_path / "out").exists()


def test_a_tile_off_the_models_grid_is_said(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`--tile 1` ran 16-px tiles without a word (slow, and a little further from the whole
    image's result); the side really used is said, and nothing when it is the one asked for."""
    (tmp_path / "x.jpg").write_bytes(jpeg(rgb()))
    assert restore(tmp_path / "x.jpg", "--model", "jpeg", "--tile", "1") == 0
    assert "note: --tile 1 gives jpeg 16-px tiles (whole cells of its grid" in capsys.readouterr().err
    assert restore(tmp_path / "x.jpg", "--model", "jpeg", "--tile", "16", "-o",
                   tmp_path / "y.png") == 0
    assert "note: --tile" not in capsys.readouterr().err


def test_ctrl_c_in_a_batch_says_how_far_it_got(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import zoo.restore

    real = zoo.restore.restore_loaded

    def restore_loaded(model, image, **kw):  # noqa: ANN001, ANN003, ANN202
        if image.source.name == "c.png":
            raise KeyboardInterrupt
        return real(model, image, **kw)

    monkeypatch.setattr(zoo.restore, "restore_loaded", restore_loaded)
    for name in ("a.png", "b.png", "c.png", "d.png"):
        Image.fromarray(rgb()).save(tmp_path / name)
    assert restore(tmp_path) == 130
    out, err = capsys.readouterr()
    assert ("stopped at image 3 of 4: 2 restored (each result written is whole); "
            "--skip-existing restores the rest") in out + err
    assert err.rstrip().endswith("interrupted")
    assert sorted(p.name for p in tmp_path.glob("*.restored.png")) == ["a.restored.png",
                                                                         "b.restored.png"]


def test_linked_sub_folders_are_followed_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """-r skipped a linked sub-folder without a word; it is followed, and a link that loops
    back (or a second way into a folder already listed) lists nothing twice."""
    top, real = tmp_path / "top", tmp_path / "real"
    top.mkdir(), real.mkdir()
    (top / "t.jpg").write_bytes(jpeg(rgb()))
    (real / "r.jpg").write_bytes(jpeg(rgb()))
    (top / "linked").symlink_to(real, target_is_directory=True)
    (real / "back").symlink_to(top, target_is_directory=True)
    out = tmp_path / "out"
    assert restore(top, "-r", "--out-dir", out) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "linked/r.restored.png", "t.restored.png"]
    assert "restored 2 of 2 images" in capsys.readouterr().err


def test_a_pattern_the_shell_did_not_expand_is_expanded(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    """A quoted pattern (or one from a shell that expands none, as on Windows) was "no such
    file"; it names the files it matches, and one that matches none says so."""
    for name in ("a.jpg", "b.jpg", "c.png"):
        (tmp_path / name).write_bytes(jpeg(rgb()))
    assert restore(tmp_path / "*.jpg") == 0
    assert sorted(p.name for p in tmp_path.glob("*.restored.png")) == ["a.restored.png", "b.restored.png"]
    capsys.readouterr()
    assert restore(tmp_path / "*.gif") == 1
    assert f"{tmp_path / '*.gif'}: no file matches this pattern" in capsys.readouterr().err


def test_standard_output_is_refused_as_an_output(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``-o -`` wrote a file named ``-.png``."""
    (tmp_path / "a.jpg").write_bytes(jpeg(rgb()))
    monkeypatch.chdir(tmp_path)
    assert restore("a.jpg", "-o", "-") == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: -o -: results are not written to standard output; name a file (-o clean.png)")
    assert not (tmp_path / "-.png").exists()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for device in ("/dev/null", str(fifo)):  # -o /dev/null wrote a file /dev/null.png
        assert restore("a.jpg", "-o", device) == 2
        assert capsys.readouterr().err.splitlines()[-1] == (
            f"error: -o {device} is a device or pipe, not a file; results are image files: name "
            "one (-o clean.png)")
    assert not Path("/dev/null.png").exists() and not (tmp_path / "pipe.png").exists()


def test_no_progress_turns_the_bars_off_on_a_terminal(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """As zoo bench and zoo train take it (restore had no such option)."""
    import rich.console

    import zoo.cli.restore_cmd as restore_cmd

    made: list[bool] = []
    real = restore_cmd.Progress

    def recording(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        made.append(kwargs["disable"])
        return real(*args, **kwargs)

    monkeypatch.setattr(restore_cmd, "Progress", recording)
    monkeypatch.setattr(rich.console.Console, "is_terminal", property(lambda self: True))
    (tmp_path / "a.jpg").write_bytes(jpeg(rgb()))
    assert restore(tmp_path / "a.jpg", "--no-progress") == 0
    assert restore(tmp_path / "a.jpg", "-o", tmp_path / "b.png") == 0
    assert made == [True, False]


def test_a_dumb_terminal_gets_a_line_per_image(tmp_path: Path, capsys: pytest.CaptureFixture,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Under TERM=dumb rich draws no bar, and a batch said nothing of its images but the
    summary (a CLI auditor's): there, as in a pipe, each image is a line."""
    import rich.console

    monkeypatch.setattr(rich.console.Console, "is_terminal", property(lambda self: True))
    monkeypatch.setenv("TERM", "dumb")
    for name in ("a", "b"):
        (tmp_path / f"{name}.jpg").write_bytes(jpeg(rgb()))
    assert restore(tmp_path / "a.jpg", tmp_path / "b.jpg") == 0
    err = capsys.readouterr().err
    assert all(f"{tmp_path}/{n}.jpg -> {tmp_path}/{n}.restored.png" in err for n in "ab"), err


def test_a_batch_in_a_log_says_its_count_and_eta(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """In a log a batch of thousands said IN -> OUT per image and nothing of how far it was (a
    data engineer's audit): a count and an ETA every PLAIN_SECONDS, the summary at the end."""
    import zoo.plain_progress

    monkeypatch.setattr(zoo.plain_progress, "PLAIN_SECONDS", 0.0)  # a line for every image
    for name in "abc":
        (tmp_path / f"{name}.jpg").write_bytes(jpeg(rgb()))
    assert restore(tmp_path, "-m", "jpeg") == 0
    err = capsys.readouterr().err
    counts = [line.split(",")[0] for line in err.splitlines() if line.startswith("restoring: ")]
    assert counts == ["restoring: image 1/3", "restoring: image 2/3"] and "ETA" in err
    assert restore(tmp_path / "a.jpg", "-m", "jpeg") == 0 and "restoring:" not in capsys.readouterr().err
    assert restore(tmp_path, "-m", "jpeg", "--no-progress") == 0
    assert "restoring:" not in capsys.readouterr().err
    import rich.console  # a terminal that draws the bar: no count lines under it

    monkeypatch.setattr(rich.console.Console, "is_terminal", property(lambda self: True))
    monkeypatch.setenv("TERM", "xterm")
    assert restore(tmp_path, "-m", "jpeg") == 0
    assert "restoring: image" not in capsys.readouterr().err


def test_without_r_a_sub_folder_is_not_even_opened(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreadable sub-folder of a folder restored without -r was reported as a failure (the
    walk still opened it), exit 1; it is never read, so it is no failure."""
    (tmp_path / "a.jpg").write_bytes(jpeg(rgb()))
    (tmp_path / "private").mkdir()
    real_scandir = os.scandir

    def guarded(path=".", *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if Path(path).name == "private":  # as a folder with mode 000 is to another user
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", guarded)
    assert restore(tmp_path, "--out-dir", tmp_path / "out") == 0
    assert "private" not in capsys.readouterr().err


def test_a_jpeg_above_the_training_qualities_is_warned_of_and_restored(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    Image.fromarray(rgb()).save(tmp_path / "photo.jpg", quality=90)
    Image.fromarray(rgb()).save(tmp_path / "low.jpg", quality=20)
    assert main(["restore", "-m", "unet-l1", "--device", "cpu", str(tmp_path)]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "warning:" in line]
    assert len(warned) == 1 and "photo.jpg: JPEG quality 90, above the 5-40 unet-l1" in warned[0]
    assert (tmp_path / "photo.restored.png").is_file()


def test_results_in_an_out_dir_inside_the_input_are_never_inputs(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A second run with another --suffix restored the first run's results again; the folder
    passed over is named in the note, once it is there."""
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "sub" / "baby.jpg").write_bytes(jpeg(rgb()))
    out = tmp_path / "in" / "out"
    assert restore(tmp_path / "in", "-r", "--out-dir", out) == 0
    assert "note:" not in capsys.readouterr().err  # nothing there yet
    assert restore(tmp_path / "in", "-r", "--out-dir", out, "--suffix", ".x") == 0
    assert (f"note: {tmp_path / 'in'}: its sub-folder out/ not walked, being the --out-dir"
            in capsys.readouterr().err)
    found = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert found == ["sub/baby.restored.png", "sub/baby.x.png"]
    capsys.readouterr()
    assert restore(out, "-r", "--out-dir", out, "--suffix", ".y") == 1  # only results there
    assert ("only 2 results zoo wrote under another --suffix (baby.restored.png, baby.x.png), "
            "which are not restored again (name them as files to restore them)"
            in capsys.readouterr().err)


def test_results_written_under_another_suffix_are_not_restored_again(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Trying another model beside the first one's results (`--suffix .unet`) restored those
    results too (photo.restored.unet.png): a PNG result says zoo made it, and a folder walk
    passes it over whatever its suffix; named as an input, it is restored as asked."""
    (tmp_path / "photo.jpg").write_bytes(jpeg(rgb()))
    Image.fromarray(rgb()).save(tmp_path / "mine.png")  # a user's PNG: an input
    assert restore(tmp_path) == 0
    with Image.open(tmp_path / "photo.restored.png") as result:
        assert result.info["Software"] == f"zoo {zoo.__version__} (jpeg)"
    capsys.readouterr()
    assert restore(tmp_path, "--suffix", ".unet") == 0
    err = capsys.readouterr().err
    assert (f"note: {tmp_path}: 2 results zoo wrote under another --suffix (mine.restored.png, "
            "photo.restored.png) not restored again\n") in err, err
    assert sorted(p.name for p in tmp_path.glob("*.unet.png")) == ["mine.unet.png",
                                                                   "photo.unet.png"]
    assert restore(tmp_path / "photo.restored.png", "--suffix", ".again") == 0  # named: restored
    assert (tmp_path / "photo.restored.again.png").is_file()
    (tmp_path / "photo.jpg").unlink()
    (tmp_path / "mine.png").unlink()
    for path in tmp_path.glob("*.unet.png"):
        path.unlink()
    assert restore(tmp_path, "--suffix", ".again") == 1
    assert (f"{tmp_path}: no image files in this folder, only 1 earlier result (*.again.*) and 2 "
            "results zoo wrote under another --suffix (mine.restored.png, photo.restored.png), "
            "which are not restored again (name them as files to restore them)"
            ) in capsys.readouterr().err


def test_a_batch_off_a_terminal_says_where_each_result_went(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    for name in ("a.jpg", "b.jpg"):
        (tmp_path / name).write_bytes(jpeg(rgb()))
    assert restore(tmp_path / "a.jpg", tmp_path / "b.jpg") == 0
    err = capsys.readouterr().err
    for name in ("a", "b"):
        assert f"{tmp_path / name}.jpg -> {tmp_path / name}.restored.png" in err


@pytest.mark.parametrize("output, said", [
    ("", "-o: the output file name is empty"),
    ("/proc/x.png", "/proc: its file system does not hold new files"),
])
def test_outputs_that_cannot_be_written_say_why(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                output: str, said: str) -> None:
    if output.startswith("/proc") and not Path("/proc/self").is_dir():
        pytest.skip("no /proc here")
    (tmp_path / "a.jpg").write_bytes(jpeg(rgb()))
    assert restore(tmp_path / "a.jpg", "-o", output) == 2
    assert said in capsys.readouterr().err


def test_a_batch_goes_on_when_the_reader_of_its_output_has_gone(tmp_path: Path) -> None:
    """`zoo restore -r DIR 2>&1 | head -1`: the first message after the pipe closed raised
    BrokenPipeError, and the batch ended at its first image with status 1, without a word."""
    import subprocess
    import sys

    for i in range(3):
        Image.fromarray(np.full((24, 24, 3), 40 * i, np.uint8)).save(tmp_path / f"in{i}.jpg", quality=30)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first line
    try:
        run = subprocess.run([sys.executable, "-m", "zoo", "restore", str(tmp_path), "-r", "--model",
                              "jpeg", "--no-progress", "--out-dir", str(tmp_path / "out")],
                             stdout=write_end, stderr=write_end, check=False,
                             env={**os.environ, "HF_HUB_OFFLINE": "1"})
    finally:
        os.close(write_end)
    assert run.returncode == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "in0.restored.png", "in1.restored.png", "in2.restored.png"]


def test_a_stream_whose_reader_has_gone_writes_to_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from zoo.cli.broken_pipes import reader_may_leave

    class Gone(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    gone, before = Gone(), sys.stderr
    monkeypatch.setattr(sys, "stderr", gone)
    with reader_may_leave():
        assert sys.stderr.write("lost\n") == 5 and sys.stderr.write("also lost\n") == 10
        sys.stderr.flush()
        assert sys.stderr.name == os.devnull  # what follows goes to the null device
    assert sys.stderr is gone
    monkeypatch.setattr(sys, "stderr", before)


    class GoneOnFlush(io.StringIO):
        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", GoneOnFlush())
    with reader_may_leave():
        sys.stdout.write("kept in the buffer\n")
        sys.stdout.flush()  # raised before
        assert sys.stdout.name == os.devnull


def test_a_listing_into_a_closed_pipe_is_no_error(tmp_path: Path) -> None:
    """`zoo list | true`: stdout's reader gone, stderr still there, which says nothing."""
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        run = subprocess.run([sys.executable, "-m", "zoo", "list"], stdout=write_end,
                             stderr=subprocess.PIPE, text=True, check=False,
                             env={**os.environ, "HF_HUB_OFFLINE": "1"})
    finally:
        os.close(write_end)
    assert (run.returncode, run.stderr) == (0, "")
