"""Datasets: image folders, the sample suite, the data cache."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo import datasets
from zoo.errors import DataError, ImageError


def _png(path: Path, seed: int, size: tuple[int, int] = (24, 32), grey: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = size if grey else (*size, 3)
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def _not_utf8(folder: Path, name: bytes) -> Path:
    """``folder / name`` for a name that is not UTF-8; the test is skipped where the file system
    takes no such name (macOS, Windows)."""
    path = Path(os.fsdecode(bytes(folder) + b"/" + name))
    try:
        path.touch()
        path.unlink()
    except OSError:
        pytest.skip("this file system takes no name that is not UTF-8")
    return path


def test_folder_dataset_sorted_named_after_folder(tmp_path: Path) -> None:
    folder = tmp_path / "LIVE1"
    folder.mkdir()
    b = _png(folder / "b.png", 1)
    a = _png(folder / "a.bmp", 2, grey=True)
    (folder / "notes.txt").write_text("not an image")
    ds = datasets.folder_dataset(folder)
    assert ds.name == "LIVE1"
    assert ds.ids == ["a", "b"]
    assert ds.ignored == ["notes.txt"]
    np.testing.assert_array_equal(ds.items[0][1](), a)  # grey stays HxW
    np.testing.assert_array_equal(ds.items[1][1](), b)


def test_suffixes_in_capitals_are_images_too(tmp_path: Path) -> None:
    """B.PNG (as cameras and Windows write names) is an image as a.png is."""
    _png(tmp_path / "a.png", 1)
    _png(tmp_path / "B.PNG", 2)
    ds = datasets.folder_dataset(tmp_path)
    assert ds.ids == ["B", "a"] and ds.ignored == []  # sorted by file name: capitals first


def test_corrupt_image_raises_image_error_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    _png(folder / "good.png", 1)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    ds = datasets.folder_dataset(folder)
    assert ds.ids == ["broken", "good"]
    with pytest.raises(ImageError, match="broken.png"):
        ds.items[0][1]()
    errors: list[str] = []
    assert [image_id for image_id, _ in ds.readable(errors.append)] == ["good"]
    assert len(errors) == 1 and "broken.png" in errors[0]


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_a_ground_truth_with_transparent_pixels_is_refused(mode: str, tmp_path: Path) -> None:
    """Its alpha was dropped without a word and the colours under it scored (a photo with a
    transparent half over noise: PSNR 13.8 dB against 27.9 opaque)."""
    rng = np.random.default_rng(0)
    rgba = np.dstack([rng.integers(0, 256, (8, 10, 3), dtype=np.uint8),
                      np.full((8, 10), 255, np.uint8)])
    opaque = Image.fromarray(rgba, "RGBA").convert(mode)
    rgba[:, 5:, 3] = 0
    rgba[0, 0, 3] = 254
    see_through = Image.fromarray(rgba, "RGBA").convert(mode)
    opaque.save(tmp_path / "opaque.png")
    see_through.save(tmp_path / "see.png", transparency=0) if mode == "P" else see_through.save(
        tmp_path / "see.png")
    assert datasets.read_image(tmp_path / "opaque.png").shape[:2] == (8, 10)  # alpha 255: fine
    # RGBA, LA: the right half (40 pixels) and one at 254; P: the pixels of palette entry 0
    seen = 41 if mode != "P" else int(np.count_nonzero(np.asarray(see_through) == 0))
    with pytest.raises(ImageError, match=rf"see.png: {seen} of 80 pixels are transparent or partly "
                                         r"so; a ground truth must be opaque"):
        datasets.read_image(tmp_path / "see.png")


def test_missing_or_empty_folder_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nope: no such folder$"):
        datasets.folder_dataset(tmp_path / "nope")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(DataError, match="file.png: not a folder of images$"):
        datasets.folder_dataset(tmp_path / "file.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no images found \(looked for [^)]*\)$"):
        datasets.folder_dataset(tmp_path / "empty")
    # A DIV2K-like tree one level down said only "no images found" (a data engineer's audit).
    for sub in ("train", "valid"):
        (tmp_path / "empty" / sub).mkdir()
    with pytest.raises(DataError, match=r"no images found \(looked for [^)]*\); its sub-folders are "
                                        r"not read \(train/, valid/\): name one as --data$"):
        datasets.folder_dataset(tmp_path / "empty")


def test_sample_dataset_and_default_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    ds = datasets.sample_dataset()
    assert ds.name == "sample" and len(ds) == 5
    assert datasets.resolve_dataset(None).name == "sample"  # no DIV2K in the cache
    with pytest.raises(DataError, match="zoo data fetch div2k"):
        datasets.resolve_dataset("div2k")
    # A folder placed in the data cache is found by its name.
    (tmp_path / "cache" / "Classic5").mkdir(parents=True)
    _png(tmp_path / "cache" / "Classic5" / "x.png", 3)
    assert datasets.resolve_dataset("Classic5").ids == ["x"]


def _listed_rows(capsys: pytest.CaptureFixture) -> dict[str, tuple[str, str]]:
    """``zoo data list``'s name and command columns, per where (a wide table: one line per row)."""
    from zoo.cli import main

    assert main(["data", "list"]) == 0
    rows = [[c.strip() for c in line.split("│")[1:-1]]
            for line in capsys.readouterr().out.splitlines() if line.startswith("│")]
    return {where: (name, command) for name, _, where, command in rows}



def test_data_list_shows_folder_names_as_they_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    """Folder names are the user's, not rich markup: ``[/x]`` was a MarkupError traceback and
    ``[bold]`` vanished into the styling."""
    from zoo.cli import main

    cache = tmp_path / "p["
    for name in ("x]", "[bold]y"):
        (cache / name).mkdir(parents=True)
        _png(cache / name / "a.png", 1)
    monkeypatch.setenv("ZOO_DATA", str(cache))
    monkeypatch.setenv("COLUMNS", "400")
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert f"{cache}/x]" in out and "[bold]y" in out


def test_data_list_commands_are_whole_in_a_pipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture) -> None:
    """Outside a terminal rich assumes 80 columns and cut the commands ("--data a_rather_lo…")."""
    from zoo.cli import main

    name = "a_rather_long_dataset_folder_name_for_the_table"
    (tmp_path / name).mkdir()
    _png(tmp_path / name / "a.png", 1)
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    monkeypatch.delenv("COLUMNS", raising=False)
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert f"zoo bench --data {name}" in out and str(tmp_path / name) in out


def test_data_list_names_commands_that_bench_each_dataset(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Each listed bench command runs as shown and benches that row's dataset; a cache folder
    that --data NAME would not reach (a folder of that name here, `sample`) is given by path."""
    from zoo import div2k
    from zoo.cli import main

    cache, here = tmp_path / "cache", tmp_path / "here"
    for folder in (cache / "LIVE1", cache / "Set 5", cache / "Mine", here / "Mine", cache / "sample"):
        folder.mkdir(parents=True)
        _png(folder / "a.png", 1)
    monkeypatch.setenv("ZOO_DATA", str(cache))
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.chdir(here)
    rows = _listed_rows(capsys)
    commands = {where: command for where, (_, command) in rows.items()}
    assert commands[str(div2k.div2k_dir())] == "zoo data fetch div2k"
    assert rows["scikit-image (built in)"] == ("sample (default)", "zoo bench --data sample")
    assert commands[str(cache / "Set 5")] == "zoo bench --data 'Set 5'"
    assert commands[str(cache / "Mine")] == f"zoo bench --data {cache / 'Mine'}"

    monkeypatch.setattr(div2k, "DIV2K_COUNT", 1)
    div2k.div2k_dir().mkdir(parents=True)
    _png(div2k.div2k_dir() / "0801.png", 2)
    rows = _listed_rows(capsys)
    commands = {where: command for where, (_, command) in rows.items()}
    assert rows["scikit-image (built in)"] == ("sample", "zoo bench --data sample")
    assert rows[str(div2k.div2k_dir())] == ("div2k (default)", "zoo bench --data div2k")
    sources = {"scikit-image (built in)": "scikit-image sample photographs (skimage.data)",
               str(div2k.div2k_dir()): "data cache: div2k", str(cache / "LIVE1"): "data cache: LIVE1",
               str(cache / "Set 5"): "data cache: Set 5", str(cache / "Mine"): str(cache / "Mine"),
               str(cache / "sample"): str(cache / "sample")}
    assert commands.keys() == sources.keys()
    for i, (where, command) in enumerate(commands.items()):
        args = shlex.split(command)
        assert args[:2] == ["zoo", "bench"]
        out = tmp_path / "out" / str(i)
        assert main([*args[1:], "--models", "jpeg", "-q", "10", "--metrics", "psnr",
                     "--no-progress", "--crops", "0", "--out", str(out)]) == 0
        assert json.loads((out / "meta.json").read_text())["dataset_source"] == sources[where]


def test_a_file_sharing_a_stem_leaves_the_other_ids_as_they_were(tmp_path: Path) -> None:
    """a.png and b.png are `a` and `b`; adding a.jpg renamed every id (`b` became `b.png`), so a
    resumed benchmark measured the whole folder again and kept the old rows as orphans."""
    for name, seed in (("a.png", 1), ("b.png", 2)):
        _png(tmp_path / name, seed)
    assert datasets.folder_dataset(tmp_path).ids == ["a", "b"]
    Image.fromarray(_png(tmp_path / "x.png", 3)).save(tmp_path / "a.jpg")
    (tmp_path / "x.png").unlink()
    assert datasets.folder_dataset(tmp_path).ids == ["a.jpg", "a.png", "b"]


def test_names_that_are_not_utf8_are_benchmarked_with_escapes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """A file or folder name with a byte that is not UTF-8 made results.csv's writer raise
    UnicodeEncodeError: a traceback, and the rest of the data never measured."""
    from zoo.cli import main

    folder = _not_utf8(tmp_path, b"set\xff")
    folder.mkdir()
    _png(folder / "a.png", 1)
    _png(_not_utf8(folder, b"z\xff.png"), 2)
    ds = datasets.folder_dataset(folder)
    assert ds.name == "set\\xff" and ds.ids == ["a", "z\\xff"] and "set\\xff" in ds.source
    out = tmp_path / "out"
    assert main(["bench", "--data", str(folder), "--models", "jpeg", "--metrics", "psnr",
                 "-q", "10", "--no-progress", "--out", str(out)]) == 0
    rows = (out / "results.csv").read_text(encoding="utf-8").splitlines()
    assert [r.split(",")[2] for r in rows[1:]] == ["a", "z\\xff"]
    assert "Traceback" not in capsys.readouterr().err


def test_entries_that_are_not_image_files_are_listed_with_why(tmp_path: Path) -> None:
    """A sub-folder and a broken link were dropped without a word (only other suffixes were
    listed among the ignored files)."""
    _png(tmp_path / "a.png", 1)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "more").mkdir()
    (tmp_path / "gone.png").symlink_to(tmp_path / "nowhere.png")
    assert datasets.folder_dataset(tmp_path).ignored == [
        "gone.png (a broken link)", "more/ (a folder: sub-folders are not read)", "notes.txt"]


def test_an_empty_data_argument_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _png(tmp_path / "a.png", 1)  # `--data ''` benchmarked the working directory
    with pytest.raises(DataError, match="give a folder of images"):
        datasets.resolve_dataset("")


def _unreadable(monkeypatch: pytest.MonkeyPatch, folder: Path, listable: bool = False) -> None:
    """Make ``folder`` behave as a folder without permissions does for a user who is not root
    (tests may run as root, whom permissions do not stop): listing it (unless ``listable``: read
    but no search permission), and looking up a name in it, raise PermissionError."""
    import errno
    def guarded(real, itself: bool):  # noqa: ANN001, ANN202
        def call(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            target = Path(os.fsdecode(path))
            if (itself and target == folder) or folder in target.parents:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real(path, *args, **kwargs)
        return call

    for name in ("scandir", "listdir"):
        if not listable:
            monkeypatch.setattr(os, name, guarded(getattr(os, name), True))
    monkeypatch.setattr(os, "stat", guarded(os.stat, False))  # the folder itself can be looked at


def test_an_unreadable_folder_in_the_data_cache_is_listed_as_such(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """One folder without permissions made `zoo data list` an error listing nothing, and an
    unreadable DIV2K folder made the default `zoo bench` fail instead of using the sample suite."""
    from zoo import div2k
    from zoo.bench.api import dataset_notice

    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "400")
    for name in ("LIVE1", "Classic5"):
        (tmp_path / name).mkdir()
        _png(tmp_path / name / "a.png", 1)
    div2k.div2k_dir().mkdir(parents=True)
    _unreadable(monkeypatch, tmp_path / "LIVE1")
    _unreadable(monkeypatch, div2k.div2k_dir())
    rows = _listed_rows(capsys)
    assert rows[str(tmp_path / "Classic5")] == ("Classic5", "zoo bench --data Classic5")
    assert rows[str(tmp_path / "LIVE1")] == ("LIVE1", "")
    assert rows[str(div2k.div2k_dir())][0] == "div2k"
    assert datasets.resolve_dataset(None).name == "sample"
    assert "cannot be read: Permission denied: using the built-in sample" in dataset_notice(None)
    with pytest.raises(DataError, match="DIV2K validation cannot be read: Permission denied"):
        datasets.resolve_dataset("div2k")


def test_benchmarks_read_the_suffixes_restore_reads(tmp_path: Path) -> None:
    """`.jpe`/`.jfif` were restored but not benchmarked, `.ppm`/`.pgm` benchmarked but not
    restored: one set of suffixes for both (and for training data)."""
    from zoo.imaging import READ_SUFFIXES

    pixels = _png(tmp_path / "x.png", 1)
    for suffix in (".jfif", ".jpe", ".ppm"):
        Image.fromarray(pixels).save(tmp_path / f"a{suffix}", format="PPM" if suffix == ".ppm"
                                     else "JPEG")
    (tmp_path / "x.png").unlink()
    assert datasets.folder_dataset(tmp_path).ids == ["a.jfif", "a.jpe", "a.ppm"]
    assert {".jfif", ".jpe", ".ppm", ".pgm"} <= READ_SUFFIXES


def test_data_list_gives_a_pastable_command_for_a_name_that_is_not_utf8(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    folder = _not_utf8(tmp_path, b"c\xffache")
    folder.mkdir()
    _png(folder / "a.png", 1)
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "400")
    name, command = _listed_rows(capsys)[f"{tmp_path}/c\\xffache"]
    assert name == "c\\xffache" and command == f"zoo bench --data $'{tmp_path}/c\\xffache'"


def test_bench_says_which_entries_it_did_not_read(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The ignored entries went to meta.json only; the terminal said nothing of them."""
    from zoo.cli import main

    folder = tmp_path / "set"
    folder.mkdir()
    _png(folder / "a.png", 1)
    for i in range(7):
        (folder / f"notes{i}.txt").write_text("x")
    assert main(["bench", "--data", str(folder), "--models", "jpeg", "--metrics", "psnr", "-q",
                 "10", "--no-progress", "--out", str(tmp_path / "out")]) == 0
    assert ("note: set: 7 entries of the folder not read, not being image files: notes0.txt, "
            "notes1.txt, notes2.txt, notes3.txt, notes4.txt and 2 more (meta.json: ignored_files)"
            ) in capsys.readouterr().err


def test_ids_stay_unique_when_a_stem_is_another_files_name(tmp_path: Path) -> None:
    """a.png, a.jpg and a.jpg.png had the ids a.png, a.jpg and a.jpg: two images in one row of
    results.csv, 3 rows measured and 2 kept; a name's escape and a real backslash clashed too."""
    for name in ("a.png", "a.jpg.png"):
        _png(tmp_path / name, 1)
    Image.open(tmp_path / "a.png").save(tmp_path / "a.jpg")
    assert datasets.folder_dataset(tmp_path).ids == ["a.jpg", "a.jpg.png", "a.png"]
    other = tmp_path / "other"
    other.mkdir()
    _png(other / "z\\xff.png", 2)  # a literal backslash
    _png(_not_utf8(other, b"z\xff.png"), 3)  # the byte 0xff
    ids = datasets.folder_dataset(other).ids
    assert sorted(ids) == ["z\\xff.png~1", "z\\xff.png~2"]  # numbered in name order


def test_a_cache_folder_that_can_be_listed_but_not_entered_is_listed_as_such(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """(mode 644 on a folder) `zoo data list` ended in "LIVE1/a.png: Permission denied"."""
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "400")
    (tmp_path / "LIVE1").mkdir()
    _png(tmp_path / "LIVE1" / "a.png", 1)
    _unreadable(monkeypatch, tmp_path / "LIVE1", listable=True)
    assert _listed_rows(capsys)[str(tmp_path / "LIVE1")] == ("LIVE1", "")
    with pytest.raises(DataError, match="LIVE1: cannot be read \\(Permission denied\\)"):
        datasets.resolve_dataset("LIVE1")


def test_a_data_cache_that_cannot_be_entered_leaves_the_default_to_the_sample_suite(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from zoo import div2k
    from zoo.bench.api import dataset_notice

    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "400")
    div2k.div2k_dir().mkdir(parents=True)
    _unreadable(monkeypatch, tmp_path)
    assert datasets.resolve_dataset(None).name == "sample"
    assert "cannot be read: Permission denied: using the built-in sample" in dataset_notice(None)
    assert _listed_rows(capsys)[str(div2k.div2k_dir())][0] == "div2k"


def test_the_data_cache_is_zoo_data_else_xdg_cache_home_else_home_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As docs/bench.md says: `$ZOO_DATA`, else `$XDG_CACHE_HOME/zoo`, else `~/.cache/zoo`."""
    from zoo.resources import cache_dir

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ZOO_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_dir() == tmp_path / "home" / ".cache" / "zoo"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir() == tmp_path / "x" / "zoo"
    monkeypatch.setenv("ZOO_DATA", "~/d")
    assert cache_dir() == tmp_path / "home" / "d"


def test_sample_images_are_written_into_the_data_cache(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.samples import sample_image_path

    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    path = sample_image_path("chelsea", 10)
    assert path.is_file() and path.name == "chelsea-q10.jpg"
    assert tmp_path / "cache" in path.parents


def test_hidden_files_and_folders_are_skipped_when_asked(tmp_path: Path) -> None:
    from zoo.folders import walk_files

    for name in ("a.png", ".h.png", ".hidden/b.png", "sub/c.png"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    listed = [p.relative_to(tmp_path).as_posix() for p in walk_files(tmp_path, skip_hidden=True)]
    assert listed == ["a.png", "sub/c.png"]


def test_an_unreadable_data_cache_warns_at_the_callers_line(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """``cached_datasets()`` from Python: the warning names the caller's file, not zoo's."""
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    _unreadable(monkeypatch, tmp_path)
    with pytest.warns(UserWarning, match="the data cache cannot be read") as caught:
        datasets.cached_datasets()
    assert {w.filename for w in caught} == {__file__}
