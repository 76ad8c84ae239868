"""The command line's own handling: write errors name the file, Ctrl-C is one line."""

from __future__ import annotations

import errno
import io
import os
import re
import tempfile
from pathlib import Path

import pytest
from PIL import Image
from torch import nn

import zoo.atomic
import zoo.cli
from zoo.atomic import atomic_write
from zoo.cli import main, run_tool
from zoo.errors import ZooError
from zoo.models.base import Restorer
from zoo.registry import ModelInfo, WeightsInfo, register_architecture


def _disk_full(fh) -> None:  # noqa: ANN001
    fh.write("some")
    raise OSError(errno.EFBIG, "File too large")  # as a write past `ulimit -f` reports it


def _no_permission(**kw) -> None:  # noqa: ANN003
    raise PermissionError(errno.EACCES, "Permission denied", f"{kw['dir']}/.x.csv.abc123.tmp")


@pytest.mark.parametrize("case", ["a folder in the way", "disk full", "read-only folder"])
def test_write_errors_name_the_file_not_the_temporary_one(tmp_path: Path, case: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path, write = tmp_path / "x.csv", lambda fh: fh.write("a,b\n")
    if case == "a folder in the way":
        path.mkdir()
    elif case == "disk full":
        write = _disk_full
    else:
        monkeypatch.setattr(tempfile, "mkstemp", _no_permission)
    with pytest.raises(OSError) as caught:
        atomic_write(path, write)
    assert caught.value.filename == str(path) and caught.value.strerror
    assert [p.name for p in tmp_path.iterdir()] == (["x.csv"] if path.is_dir() else [])


def test_run_tool_prints_the_path_and_the_reason(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "summary.csv").mkdir()
    assert run_tool(lambda: atomic_write(tmp_path / "summary.csv", lambda fh: None)) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'summary.csv'}: Is a directory\n"
    assert run_tool(lambda: atomic_write(tmp_path / "y.csv", _disk_full)) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'y.csv'}: File too large\n"

    def raising(exc: OSError):  # noqa: ANN202
        return lambda: (_ for _ in ()).throw(exc)

    assert run_tool(raising(OSError(errno.ENOSPC, "No space left on device"))) == 2
    assert capsys.readouterr().err == "error: No space left on device\n"
    assert run_tool(raising(OSError())) == 2
    assert capsys.readouterr().err == "error: OSError\n"


def test_ctrl_c_while_the_parser_is_built_is_one_line(capsys: pytest.CaptureFixture,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import zoo.cli

    def interrupted():  # noqa: ANN202
        raise KeyboardInterrupt

    monkeypatch.setattr(zoo.cli, "build_parser", interrupted)
    assert main(["list"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def _fake_sigint(monkeypatch: pytest.MonkeyPatch, current: object) -> dict[int, object]:
    """SIGINT's handler kept in a dict (``current`` at first; SIGTERM's and SIGCHLD's the
    default): a test delivers a Ctrl-C by calling the handler run_tool installed, whatever the
    process's real signal state."""
    import signal

    handlers: dict[int, object] = {signal.SIGINT: current, signal.SIGTERM: signal.SIG_DFL,
                                   signal.SIGCHLD: signal.SIG_DFL}

    def install(signum: int, handler: object) -> object:
        previous, handlers[signum] = handlers[signum], handler
        return previous

    monkeypatch.setattr(signal, "getsignal", lambda signum: handlers[signum])
    monkeypatch.setattr(signal, "signal", install)
    return handlers


def test_ctrl_c_that_comes_out_as_another_error_is_still_an_interrupt(
        capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C inside torch's import or safetensors came out as a RuntimeError/ValueError
    traceback, exit 1; it is the user's interrupt: "interrupted", exit 130."""
    import signal

    handlers = _fake_sigint(monkeypatch, signal.default_int_handler)

    def starting_up() -> int:
        try:
            handlers[signal.SIGINT](signal.SIGINT, None)  # the Ctrl-C arrives
        except KeyboardInterrupt:  # as an extension module swallows it and fails otherwise
            pass
        raise ValueError("could not determine the shape of object type 'UntypedStorage'")

    assert run_tool(starting_up) == 130
    assert capsys.readouterr().err == "interrupted\n"
    assert handlers[signal.SIGINT] is signal.default_int_handler  # put back

    def failing() -> int:  # without a Ctrl-C, an error is not taken for one
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        run_tool(failing)

    # a later failure: past the time within which an error is taken for the Ctrl-C
    monkeypatch.setattr(zoo.cli._InterruptWatch, "WINDOW_SECONDS", 0.0, raising=False)

    def handled_then_failing() -> int:
        """A Ctrl-C the code caught and went on from (a script keeping its finished rows), then,
        a minute later, an unrelated bug: that is shown, not called an interrupt."""
        try:
            handlers[signal.SIGINT](signal.SIGINT, None)
        except KeyboardInterrupt:
            pass
        raise ValueError("a later bug")

    with pytest.raises(ValueError, match="a later bug"):
        run_tool(handled_then_failing)

    def failing_while_interrupted() -> int:  # raised while handling the Ctrl-C: at any time
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("Error calling __set_name__") from None
        # (`from None` hides the context from tracebacks; __context__ still holds it)

    assert run_tool(failing_while_interrupted) == 130

    def looping_chain() -> int:  # `raise e from e`: the chain loops (it hung the CLI)
        error = ValueError("a bug")
        raise error from error

    with pytest.raises(ValueError, match="a bug"):
        run_tool(looping_chain)


def test_children_that_end_after_a_stop_are_part_of_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's SIGCHLD handler raised a loader worker's end (the worker got the process group's
    signal too) as a loader failure, or as a traceback from the loader's __del__; after the
    user's stop, a handler that does nothing takes its place."""
    import signal

    handlers = _fake_sigint(monkeypatch, signal.default_int_handler)

    def torch_handler(signum: int, frame: object) -> None:
        raise RuntimeError("DataLoader worker (pid 7) is killed by signal: Interrupt.")

    handlers[signal.SIGCHLD] = torch_handler
    assert run_tool(lambda: handlers[signal.SIGINT](signal.SIGINT, None)) == 130
    quiet = handlers[signal.SIGCHLD]
    assert quiet is not torch_handler and quiet(signal.SIGCHLD, None) is None


def test_an_ignored_sigint_stays_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """A job started in the background (`nohup zoo train ... &`) ignores SIGINT; run_tool must
    not make it interruptible."""
    import signal

    handlers = _fake_sigint(monkeypatch, signal.SIG_IGN)
    assert run_tool(lambda: 0 if handlers[signal.SIGINT] is signal.SIG_IGN else 1) == 0


def _deny_writing(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Files called ``name`` read as write-protected, as an ordinary user is answered (the suite
    may run as root)."""
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p).name == name and mode & os.W_OK
                        else real_access(p, mode))


def test_output_files_on_an_impossible_path_are_refused_naming_the_file_in_the_way(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``check_output_file`` (scripts check their outputs before measuring) and atomic_write say
    which file stands where a folder should be (atomic_write said 'File exists')."""
    from zoo.atomic import check_output_file

    (tmp_path / "afile").write_text("x")
    with pytest.raises(ZooError, match=rf"^--json {tmp_path}/afile/sub/x.json: {tmp_path}/afile is a file, not a folder$"):
        check_output_file(tmp_path / "afile" / "sub" / "x.json", "--json")
    with pytest.raises(ZooError, match=rf"^--json {tmp_path}: is a folder, not a file$"):
        check_output_file(tmp_path, "--json")
    check_output_file(tmp_path / "new" / "x.json", "--json")  # a folder that will be made: fine
    # A write-protected file, as an ordinary user is answered (the suite may run as root).
    (tmp_path / "ro.json").write_text("{}")
    _deny_writing(monkeypatch, "ro.json")
    with pytest.raises(ZooError, match=r"--json .*ro.json: Permission denied \(the file is write-protected\)"):
        check_output_file(tmp_path / "ro.json", "--json")
    with pytest.raises(OSError, match=rf"{tmp_path}/afile is a file, not a folder"):
        atomic_write(tmp_path / "afile" / "x.csv", lambda fh: fh.write("a"))
    # A folder on a file system that holds no new files (/proc) said "No such file or directory".
    if Path("/proc/self").is_dir():
        with pytest.raises(ZooError, match=r"^--json /proc/x.json: cannot write into /proc: its "
                                           r"file system does not hold new files"):
            check_output_file("/proc/x.json", "--json")


def test_argument_types_refuse_out_of_range_values_as_usage_errors(capsys: pytest.CaptureFixture) -> None:
    import argparse

    from zoo.cli.arg_types import float_above, fraction, int_at_least, jpeg_quality

    p = argparse.ArgumentParser(prog="script")
    p.add_argument("--runs", type=int_at_least(1))
    p.add_argument("--minutes", type=float_above(0))
    p.add_argument("--quality", type=jpeg_quality)
    p.add_argument("--share", type=fraction)
    assert vars(p.parse_args(["--runs", "1", "--minutes", "0.5", "--quality", "100"])) == {
        "runs": 1, "minutes": 0.5, "quality": 100, "share": None}
    for argv, message in ((["--runs", "0"], "argument --runs: must be at least 1, got 0"),
                          (["--runs", "x"], "argument --runs: expected an integer, got 'x'"),
                          (["--minutes", "-5"], "argument --minutes: must be a finite number above 0, got -5"),
                          (["--minutes", "nan"], "must be a finite number above 0, got nan"),
                          (["--minutes", "inf"], "must be a finite number above 0, got inf"),
                          (["--quality", "0"], "argument --quality: a JPEG quality is 1..100, got 0"),
                          (["--quality", "101"], "argument --quality: a JPEG quality is 1..100, got 101"),
                          (["--share", "1.5"], "argument --share: must be in [0, 1], got 1.5")):
        with pytest.raises(SystemExit) as exit_:
            p.parse_args(argv)
        assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_overrides_taken_by_an_option_are_handed_back_in_command_line_order() -> None:
    from zoo.cli.arg_types import hand_back_overrides

    argv = ["a.b=1", "--data", "d1", "a.b=2", "d2", "--max-steps", "3", "c=4"]
    values, overrides = hand_back_overrides(["d1", "a.b=2", "d2"], ["a.b=1", "c=4"], argv,
                                            lambda word: "=" in word)
    assert values == ["d1", "d2"] and overrides == ["a.b=1", "a.b=2", "c=4"]  # the later a.b wins
    assert hand_back_overrides(None, ["x=1", "x=1"], ["x=1", "x=1"], lambda w: True) == ([], ["x=1", "x=1"])


def text_of_main_help(capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit):
        main(["--help"])
    return " ".join(capsys.readouterr().out.split())


def test_help_texts_name_documents_that_exist(capsys: pytest.CaptureFixture) -> None:
    """`zoo --help` and `zoo bench --help` point at the docs by path; in a wheel `docs/` is
    package data, so the paths must be where the package really keeps them."""
    import re

    for command in (["--help"], ["bench", "--help"]):
        with pytest.raises(SystemExit):
            main(command)
        text = " ".join(capsys.readouterr().out.split())  # argparse wraps long paths
        paths = re.findall(r"(/\S+?\.md)\b", text)
        assert paths, text
        for path in paths:
            assert Path(path).is_file(), path
    folder = re.search(r"Documentation: (\S+) \(", text_of_main_help(capsys)).group(1)
    for name in ("restore.md", "bench.md", "metrics.md", "models.md", "weights.md", "DEVELOPING.md"):
        assert (Path(folder) / name).is_file(), name



def test_help_never_breaks_a_path_at_a_hyphen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture) -> None:
    """A checkout in ~/jpeg-zoo: argparse broke ``.../jpeg-`` and ``zoo/docs/bench.md`` onto two
    lines, a path no one can copy (and this test's sibling found ``/docs/bench.md`` in it)."""
    import zoo.resources

    monkeypatch.setenv("COLUMNS", "60")
    checkout = tmp_path / "my-jpeg-zoo-checkout"
    for folder in ("zoo", "docs", "training"):
        (checkout / folder).mkdir(parents=True)
    monkeypatch.setattr(zoo.resources, "PACKAGE_DIR", checkout / "zoo")
    for command in (["--help"], ["bench", "--help"]):
        with pytest.raises(SystemExit):
            main(command)
        out = capsys.readouterr().out
        assert f"{checkout}/docs" in out, out



@pytest.mark.parametrize("columns", ["50", "80"])
def test_option_help_keeps_hyphenated_words_and_paths_whole(columns: str, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture) -> None:
    """Option help broke `arnet-` / `nogan`, `hf-` / `hub:ORG/NAME` and `OUT/be` / `st/step-N...`
    across lines (a mutation audit's survivors: only the epilog's path was tested)."""
    import re

    monkeypatch.setenv("COLUMNS", columns)
    for command in ("restore", "bench", "train", "push"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert not re.search(r"[A-Za-z]-$", out, re.M), (command, out)
        if command in ("restore", "bench"):
            assert "OUT/best/step-N.safetensors" in out and "hf-hub:ORG/NAME" in out, out


def test_the_parser_is_built_without_importing_torch() -> None:
    """Every `zoo` command builds the whole parser: bench's metric names, read at build time,
    would cost each of them the seconds of importing torch (a mutation audit's survivor)."""
    import subprocess
    import sys

    code = ("import sys; from zoo.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'zoo.metrics') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out

def test_bench_help_names_every_metric_in_the_registry(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture) -> None:
    """A metric added to METRICS is a --metrics word in `zoo bench --help` with no other edit."""
    import dataclasses

    import zoo.metrics

    added = dataclasses.replace(zoo.metrics.METRICS["psnr"], name="mae_test")
    monkeypatch.setitem(zoo.metrics.METRICS, "mae_test", added)
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"{' '.join(zoo.metrics.METRICS)}, or all" in text and "mae_test" in text, text

def test_a_missing_document_is_named_by_its_repository_path(monkeypatch: pytest.MonkeyPatch) -> None:
    import zoo.resources

    monkeypatch.setattr(zoo.resources, "PACKAGE_DIR", Path("/nonexistent/zoo"))
    assert zoo.resources.doc_path("bench.md") == "docs/bench.md"
    assert zoo.resources.doc_path("README.md", "training") == "training/README.md"


def test_sigterm_stops_a_command_as_ctrl_c_does(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`kill PID` left the hidden temporary file of a half-written result behind; it is
    removed as for Ctrl-C, and the status is the shell's for SIGTERM."""
    import signal

    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)

    def command() -> None:
        def write(fh) -> None:  # noqa: ANN001
            fh.write("half")
            os.kill(os.getpid(), signal.SIGTERM)
            fh.write("never")

        atomic_write(tmp_path / "result.txt", write)

    assert run_tool(command) == 143
    assert capsys.readouterr().err.strip() == "terminated"
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_sigterm_is_left_to_torchrun_in_its_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job")
    assert run_tool(lambda: 0 if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL else 1) == 0
    monkeypatch.delenv("TORCHELASTIC_RUN_ID")
    assert run_tool(lambda: 0 if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL else 1) == 1


# --- atomic_write: write-protected files, the sync before the rename ----------------------------

def test_atomic_write_refuses_a_write_protected_file(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """As an ordinary user is answered (the suite may run as root, where a rename replaces it)."""
    (tmp_path / "ro.json").write_text("old")
    _deny_writing(monkeypatch, "ro.json")
    with pytest.raises(PermissionError, match="write-protected"):
        atomic_write(tmp_path / "ro.json", lambda fh: fh.write("new"))
    assert (tmp_path / "ro.json").read_text() == "old"


def test_atomic_write_keeps_a_file_without_write_bits_even_for_root(tmp_path: Path) -> None:
    """Run as root, os.access let a 0444 file be replaced (a CLI auditor's): the write bits say
    it was protected on purpose. A link to such a file is replaced as a link, its target kept,
    and the new file takes a new file's mode, not the target's."""
    import stat

    protected = tmp_path / "ro.json"
    protected.write_text("old")
    protected.chmod(0o444)
    with pytest.raises(PermissionError, match="write-protected"):
        atomic_write(protected, lambda fh: fh.write("new"))
    assert protected.read_text() == "old"
    link = tmp_path / "link.json"
    link.symlink_to(protected)
    atomic_write(link, lambda fh: fh.write("new"))
    assert protected.read_text() == "old" and not link.is_symlink() and link.read_text() == "new"
    assert stat.S_IMODE(link.stat().st_mode) == 0o666 & ~zoo.atomic._umask()
    (tmp_path / "folder").mkdir()
    (tmp_path / "to-folder").symlink_to(tmp_path / "folder")
    atomic_write(tmp_path / "to-folder", lambda fh: fh.write("x"))
    assert (tmp_path / "folder").is_dir() and (tmp_path / "to-folder").read_text() == "x"


def test_atomic_write_syncs_the_file_before_renaming_it(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import zoo.atomic

    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def replace(src: str, dst: str | os.PathLike[str]) -> None:
        calls.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(zoo.atomic.os, "fsync", fsync)
    monkeypatch.setattr(zoo.atomic.os, "replace", replace)
    atomic_write(tmp_path / "x.txt", lambda fh: fh.write("x"))
    assert calls == ["fsync", "replace"]
    assert (tmp_path / "x.txt").read_text() == "x"


def test_atomic_write_takes_every_name_the_file_system_takes(tmp_path: Path) -> None:
    """Its temporary file repeated the whole name and 14 bytes more: a 242-255-byte name, which
    the file system takes, was refused as "File name too long"."""
    for name in ("c" * 250 + ".png", "\u00e9" * 125 + ".png", "d" * 255):  # 254, 254, 255 bytes
        atomic_write(tmp_path / name, lambda fh: fh.write("x"))
        assert (tmp_path / name).read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["c" * 250 + ".png", "\u00e9" * 125 + ".png", "d" * 255])  # no temporary file left


def test_atomic_write_never_replaces_a_device_or_pipe(tmp_path: Path) -> None:
    """The rename put a regular file in a pipe's place, and would have in /dev/null's, run as
    root: `speed_bench.py --json /dev/null`, a common way to discard output."""
    from zoo.atomic import check_output_file

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="a device, pipe or socket, not a file"):
        atomic_write(fifo, lambda fh: fh.write("x"))
    assert fifo.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]
    for special in (fifo, Path("/dev/null")):
        with pytest.raises(ZooError, match=f"^--json {special}: a device, pipe or socket"):
            check_output_file(special, "--json")
    assert Path("/dev/null").is_char_device()


# --- train and bench options --------------------------------------------------------------------

def _train_args(*argv: str):  # noqa: ANN202
    from zoo.cli import build_parser
    from zoo.cli.train_cmd import _parse_rest

    return _parse_rest(build_parser().parse_args(["train", "unet-l1", *argv]))


def test_train_options_reach_the_recipe_as_given(tmp_path: Path) -> None:
    """--max-minutes takes fractions (the help: "wall-time budget in minutes"); --val '' disables
    validation."""
    from zoo.cli.train_cmd import recipe_for

    recipe = recipe_for(_train_args("--data", str(tmp_path), "--val", "", "--max-minutes", "0.5"))
    assert recipe.max_minutes == 0.5
    assert recipe.data.val == ""


def test_train_output_folder_defaults_to_runs_name() -> None:
    from zoo.cli.train_cmd import out_dir

    assert out_dir(_train_args()) == Path("runs") / "unet-l1"


def test_bench_shows_three_crops_by_default() -> None:
    from zoo.cli import build_parser

    assert build_parser().parse_args(["bench"]).crops == 3


# --- zoo list -----------------------------------------------------------------------------------

@register_architecture
class TinyListNet(Restorer):
    """One 3x3 convolution, 3 -> 2 channels: 3*2*3*3 weights + 2 biases = 56 parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3, padding=1)


def _list_entry(monkeypatch: pytest.MonkeyPatch, name: str, description: str) -> None:
    import zoo.registry

    monkeypatch.setitem(zoo.registry._MODELS, name, ModelInfo(
        name=name, description=description, architecture="TinyListNet",
        weights=WeightsInfo(file=f"{name}.safetensors", sha256="0" * 64)))


def test_list_rows_show_parameters_weights_and_description(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry with no copy of its weights shows `none`; one whose shipped file is not the
    registry's shows `damaged (reinstall zoo)`."""
    import zoo.pretrained

    monkeypatch.setenv("COLUMNS", "200")  # one line per row
    monkeypatch.setattr(zoo.pretrained, "WEIGHTS_DIR", tmp_path)
    _list_entry(monkeypatch, "tiny-list-absent", "no copy anywhere")
    _list_entry(monkeypatch, "tiny-list-damaged", "a shipped copy of other bytes")
    (tmp_path / "tiny-list-damaged.safetensors").write_bytes(b"not the registry's file")
    assert main(["list", "tiny-list-*"]) == 0
    rows = {line.split()[1]: line for line in capsys.readouterr().out.splitlines()
            if "tiny-list-" in line}
    assert re.search(r"\b56 .*\bnone\b.*no copy anywhere", rows["tiny-list-absent"])
    assert re.search(r"\b56 .*damaged \(reinstall zoo\).*a shipped copy of other bytes",
                     rows["tiny-list-damaged"])


def test_parameter_counts_reach_their_unit_at_one_thousand_and_one_million() -> None:
    from zoo.cli.list_cmd import format_count

    assert (format_count(999), format_count(1000), format_count(10**6)) == ("999", "1K", "1M")


@pytest.mark.parametrize("argv, option", [
    (["restore", ""], "INPUT"),
    (["restore", "a.jpg", "--out-dir", ""], "--out-dir"),
    (["restore", "a.jpg", "-m", ""], "-m/--model"),
    (["restore", "a.jpg", "--weights", ""], "--weights"),
    (["bench", "--data", "sample", "--models", "jpeg", "-q", "10", "--metrics", "psnr", "--out", ""],
     "--out/-o"),
    (["train", "unet-l1", "--out", "", "--max-steps", "1"], "--out"),
    (["train", "unet-l1", "--data", "", "--max-steps", "1"], "--data"),
    (["train", "unet-l1", "--recipe", "", "--max-steps", "1"], "--recipe"),
    (["push", "unet-l1", "--repo", "org/name", "--dry-run", ""], "--dry-run"),
    (["push", "", "--repo", "org/name", "--dry-run", "d"], "name"),
    (["push", "unet-l1", "--repo", "org/name", "--weights", "", "--dry-run", "d"], "--weights"),
    (["bench", "--data", "sample", "--models", "", "-q", "10"], "--models/-m"),
])
def test_an_empty_name_is_refused_not_read_as_the_current_folder(
        argv: list[str], option: str, tmp_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # An unset shell variable ("$OUT") gives an empty word; Path("") is the current folder, so
    # `zoo bench --out ""` wrote its leaderboard there and `zoo push --dry-run ""` uploaded.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert f"argument {option}: the name is empty; name a" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_emoji_codes_in_names_are_printed_as_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """rich turned `:fire:` into an emoji in every message: `a:fire:.jpg` was named `a\U0001f525.jpg`."""
    from zoo import terminal
    from zoo.samples import sample_image

    monkeypatch.chdir(tmp_path)
    Image.fromarray(sample_image("astronaut")[:32, :32]).save("a:fire:.png")
    assert main(["restore", "a:fire:.png", "nope:x:.png", "--model", "jpeg"]) == 1
    err = capsys.readouterr().err
    assert "a:fire:.png -> a:fire:.restored.png" in err and "nope:x:.png: no such file" in err
    assert main(["list", ":x:"]) == 2
    assert "no model matches ':x:'" in capsys.readouterr().err
    with terminal.console(record=True, file=io.StringIO()) as shown:
        shown.print("set:fire:", ":x:")
    assert shown.export_text() == "set:fire: :x:\n"


def test_zoo_list_keeps_each_entry_on_one_line_in_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    """Outside a terminal rich assumed 80 columns: `zoo list | grep unet` found a fragment."""
    from zoo.registry import get_model_info

    assert main(["list"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if " unet-l1 " in x)
    assert get_model_info("unet-l1").description in line


@pytest.mark.parametrize(("words", "command", "extra"), [
    (["bench", "--data", "x", "--modles", "y"], "bench", "--modles y"),
    (["restore", "a.jpg", "--bogus"], "restore", "--bogus"), (["list", "--bogus"], "list", "--bogus"),
    (["data", "list", "--bogus"], "data list", "--bogus")])
def test_an_unknown_option_gets_its_subcommand_s_usage(words: list[str], command: str, extra: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`zoo bench ... --modles x` printed the top level's usage and `zoo: error: ...`."""
    with pytest.raises(SystemExit) as stop:
        main(words)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith(f"usage: zoo {command} ")
    assert err.endswith(f"zoo {command}: error: unrecognized arguments: {extra}\n")


def test_device_names_are_one_vocabulary(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """restore and bench refused 'auto', a recipe's default; an empty --device (an unset shell
    variable) was taken for the default device without a word."""
    monkeypatch.chdir(tmp_path)  # --sample writes its JPEG here
    out = tmp_path / "x.png"
    assert main(["restore", "--sample", "camera", "--model", "jpeg", "--device", "auto", "-o", str(out)]) == 0
    assert out.is_file()
    capsys.readouterr()
    assert main(["restore", "--sample", "camera", "--model", "jpeg", "--device", "", "-o", str(out)]) == 2
    assert ("error: device '': not a device; use 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'"
            in capsys.readouterr().err)


def test_a_missing_absolute_data_folder_is_said_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An absolute --data that is not there read "not a folder of images"."""
    assert main(["bench", "--data", str(tmp_path / "LIVE1"), "--out", str(tmp_path / "o")]) == 2
    assert f"error: {tmp_path / 'LIVE1'}: no such folder" in capsys.readouterr().err


def test_a_progress_description_is_shown_as_typed() -> None:
    """`[red]` or `:fire:` in a file name was read as markup or an emoji code by the bars."""
    from types import SimpleNamespace

    from zoo.terminal import description_column

    shown = description_column().render(SimpleNamespace(description="restoring [red]a:fire:.jpg"))
    assert shown.plain == "restoring [red]a:fire:.jpg"


@pytest.mark.parametrize("terminal", [True, False])
@pytest.mark.parametrize("width", [40, 80])
def test_tables_keep_names_and_numbers_whole_at_any_width(terminal: bool, width: int) -> None:
    """In a terminal of 80 columns bench's table cut ``unet-l1+x8`` to ``unet-l1…`` (the
    ensemble could not be told from its model) and at 40 columns the seconds to ``0.0…`` (a CLI
    auditor's): names and numbers stay whole, the table as wide as that needs, prose wraps."""
    from rich.console import Console
    from rich.table import Table

    from zoo.cli import print_table

    table = Table(title="set: means over images")
    for header in ("protocol", "q", "model", "PSNR (dB) ↑", "PSNR-B (dB) ↑", "SSIM ↑", "MS-SSIM ↑",
                   "s/img", "n", "description"):
        table.add_column(header)
    cells = [("rgb", "10", model, "32.69", "30.89", "0.9252", "0.9712", "8.148", "1",
              "a longer text in words that may wrap over several lines")
             for model in ("unet-l1+x8", "unet-l1", "jpeg")]
    for row in cells:
        table.add_row(*row)
    out = io.StringIO()
    print_table(table, Console(file=out, width=width, force_terminal=terminal, color_system=None))
    text = out.getvalue()
    lines = [line for line in text.splitlines() if line.startswith("│")]
    assert "…" not in text
    for row in cells:
        assert any(all(f" {cell} " in line for cell in row[:9]) for line in lines), (row, text)
    # Drawn whole, not cropped to the console: every line ends at a border, every word is there.
    table_lines = [line.rstrip() for line in text.splitlines()[1:] if line.strip()]
    assert all(line[-1] in "│┃┓┩┘" for line in table_lines), text
    assert all(word in text for word in cells[0][9].split()), text
    widest = max(len(line) for line in text.splitlines())
    # In a terminal the least width that keeps the cells whole, the prose wrapped (its lines
    # folded by the terminal where wider than it); outside one the full width, unwrapped.
    assert (len(lines) > 3 and widest < 150) if terminal else (len(lines) == 3 and widest > 150)


def test_bench_table_signs_fit_the_output_encoding() -> None:
    """Under PYTHONIOENCODING=ascii a header read ``PSNR (dB) \\u2191``, out of line with its
    column (a CLI auditor's): ^ and v there, the arrows where the encoding has them."""
    from zoo.bench.leaderboard import metric_header
    from zoo.cli.bench_cmd import _text_for

    assert _text_for("ascii")(metric_header("psnr")) == "PSNR (dB) ^"
    assert _text_for("ascii")(metric_header("lpips_alex") + " – (0 of 1)").endswith(" v - (0 of 1)")
    assert _text_for("utf-8")(metric_header("psnr")) == "PSNR (dB) ↑"
    assert _text_for("cp1252")("↑ – …") == "^ - ..."  # cp1252 (Windows' redirected output) lacks the arrows


def test_bench_table_cells_fit_the_output_encoding_too() -> None:
    """A metric no image had a value of shows "– (0 of 1)": "- (0 of 1)" where – cannot be shown."""
    from types import SimpleNamespace

    from zoo.cli.bench_cmd import _summary_table, _text_for

    run = SimpleNamespace(plan=SimpleNamespace(metrics=("psnr", "ms_ssim"), dataset=SimpleNamespace(name="set")))
    entry = {"protocol": "rgb", "quality": 10, "model": "jpeg", "psnr": 29.19, "ms_ssim": float("nan"),
             "seconds": 0.005, "images": 1, "partial": {"ms_ssim": 0}}
    table = _summary_table(run, [entry], _text_for("ascii"))
    cells = [str(cell) for column in table.columns for cell in column.cells]
    assert "- (0 of 1)" in cells and not any("–" in cell for cell in cells), cells


@pytest.mark.parametrize("args", [["restore", "x.jpg", "--form", "jpg"], ["bench", "--qual", "10"],
                                  ["train", "unet-l1", "--max-st", "3"], ["list", "--hel"]])
def test_options_are_taken_only_as_spelled_in_full(args: list[str], capsys: pytest.CaptureFixture) -> None:
    """argparse took --form for --format: a script's shortened option would change meaning, or
    stop working, the day another option began with the same letters (a CLI auditor's)."""
    with pytest.raises(SystemExit, match="2"):
        main(args)
    assert f"unrecognized arguments: {args[-2] if args[0] != 'list' else args[-1]}" in capsys.readouterr().err
