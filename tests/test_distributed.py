"""torchrun launches of `zoo bench` and `zoo train`: the launch variables, the rendezvous, and an
error on one process stopping every one with a single line (no process left waiting, none
printing torch's traceback); under the real torchrun, what every process meets alike (an error
of the start, a Ctrl-C) said once."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo.errors import ZooError

TESTS = Path(__file__).resolve().parent
# The rendezvous' waits, set before the command runs (tests/test_train.py's networks registered).
LAUNCH = ("import os, sys, torch, zoo.distributed as d\n"
          "if os.environ.get('FAKE_GPUS'):  # torch.cuda as a machine with that many would answer\n"
          "    torch.cuda.is_available = lambda: True\n"
          "    torch.cuda.device_count = lambda: int(os.environ['FAKE_GPUS'])\n"
          "d.RENDEZVOUS_SECONDS, d.WAITING_NOTICE_SECONDS = {waits}\n"
          "sys.path.insert(0, {tests!r})\n"
          "import test_train; test_train.register_tiny()\n"
          "from zoo.cli import main\n"
          "sys.exit(main(sys.argv[1:]))\n")


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in "ab":
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(tmp_path: Path, args: list[str], ranks: tuple[int, ...] = (0, 1), world: int = 2,
              waits: tuple[float, float] = (60.0, 30.0),
              timeout: float = 120, env: dict[str, str] | None = None,
              ) -> list[subprocess.CompletedProcess[str]]:
    """``zoo ARGS`` as processes ``ranks`` of a job of ``world``, started with the variables
    torchrun sets but without torchrun (which would stop the others when one fails). ``waits``:
    the rendezvous' time limit and when it says that it waits; ``env``: more variables."""
    script = tmp_path / "launch.py"
    script.write_text(LAUNCH.format(tests=str(TESTS), waits=waits))
    env = {**os.environ, "WORLD_SIZE": str(world), "LOCAL_WORLD_SIZE": str(world),
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "OMP_NUM_THREADS": "1",
           **(env or {})}
    procs = [subprocess.Popen([sys.executable, str(script), *args], text=True,
                              env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for r in ranks]
    try:
        outputs = [p.communicate(timeout=timeout) for p in procs]
        return [subprocess.CompletedProcess(p.args, p.returncode, *output)
                for p, output in zip(procs, outputs)]
    finally:
        for p in procs:
            p.kill()
            p.wait()


def _bench_args(images: Path, out: Path) -> list[str]:
    return ["bench", "--data", str(images), "--models", "jpeg", "-q", "10", "--metrics", "psnr",
            "--no-progress", "--crops", "0", "--out", str(out)]


def _codes(procs: list[subprocess.CompletedProcess[str]]) -> list[int]:
    return [p.returncode for p in procs]


# --- the launch variables ----------------------------------------------------------------------

@pytest.mark.parametrize("env, message", [
    ({"WORLD_SIZE": "2"}, "WORLD_SIZE=2 but RANK, MASTER_ADDR and MASTER_PORT are not set; "
                          "launch with torchrun"),
    ({"WORLD_SIZE": "2", "RANK": "0"}, "WORLD_SIZE=2 but MASTER_ADDR and MASTER_PORT are not set"),
    ({"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "x"}, "WORLD_SIZE=2 but MASTER_PORT is not set"),
    ({"WORLD_SIZE": "abc"}, "WORLD_SIZE='abc': not a whole number"),
    ({"WORLD_SIZE": "0"}, "WORLD_SIZE=0: the job's number of processes must be 1 or more"),
    ({"WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "x", "MASTER_PORT": "1"},
     "RANK=2: must be from 0 to WORLD_SIZE-1 (1)"),
    ({"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "x", "MASTER_PORT": "70000"},
     "MASTER_PORT=70000: not a port number"),
    ({"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "x", "MASTER_PORT": "1", "LOCAL_RANK": "one"},
     "LOCAL_RANK='one': not a whole number"),
])
def test_missing_or_bad_launch_variables_are_one_line(env: dict[str, str], message: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.distributed import launch_env

    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ZooError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        launch_env()


@pytest.mark.parametrize("command", ["bench", "train"])
def test_a_partial_launch_is_refused_in_one_line(command: str, images: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from test_train import TINY, TINY_RECIPE

    from zoo.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    args = (_bench_args(images, tmp_path / "out") if command == "bench" else
            ["train", TINY, "--recipe", str(TINY_RECIPE), "--data", str(images), "--val", "",
             "--out", str(tmp_path / "out"), "--no-progress"])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: WORLD_SIZE=2 but RANK, MASTER_ADDR and MASTER_PORT are not set")
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("rank", [0, 1])
def test_a_process_without_partners_says_it_waits_and_gives_up(images: Path, tmp_path: Path,
                                                               rank: int) -> None:
    (proc,) = run_ranks(tmp_path, _bench_args(images, tmp_path / "out"), ranks=(rank,),
                        waits=(3.0, 0.5), timeout=60)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 2, proc.stderr
    assert lines[0].startswith(f"rank {rank}: waiting for the other 1 process of this job "
                               "(WORLD_SIZE=2) at 127.0.0.1:")
    assert lines[1].startswith("error: the other 1 process of this job did not all join at "
                               "127.0.0.1:") and "within 3 s" in lines[1]
    assert not (tmp_path / "out").exists()


# --- an error on one process ---------------------------------------------------------------------

def test_a_partner_gone_ends_a_waiting_process_quietly() -> None:
    from zoo.distributed import PARTNER_FAILED, ReportedElsewhere, collective, reported_once

    gone = ("[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:561] Connection "
            "closed by peer [127.0.0.1]:41346. This is typically caused by a remote worker crashing.")
    with pytest.raises(ReportedElsewhere, match=f"^{re.escape(PARTNER_FAILED)}$"), collective(1):
        raise RuntimeError(gone)
    with pytest.raises(ZooError, match=r"^rank 0: another process of this torchrun job stopped "
                                       r"answering \(Timed out waiting 1800000ms"), collective(0):
        raise RuntimeError("[../gloo/pair.cc:1] Timed out waiting 1800000ms for recv operation")
    with pytest.raises(RuntimeError, match="shape mismatch"), collective(0):  # not the others'
        raise RuntimeError("shape mismatch")
    assert reported_once(lambda: (_ for _ in ()).throw(ReportedElsewhere(PARTNER_FAILED)))() == 0


def test_a_processs_own_backend_error_is_its_line_not_a_quiet_exit() -> None:
    """Every torch.distributed error was taken for "another process is gone": this process's own
    NCCL failure (out of memory, say) ended it quietly with status 0, and a job where every rank
    failed so was reported a success by torchrun."""
    import torch.distributed as dist

    from zoo.distributed import collective, reported_once

    def failing() -> int:
        with collective(1):
            raise dist.DistBackendError("[ProcessGroupNCCL.cpp:1] NCCL error in: x, unhandled cuda "
                                        "error, NCCL version 2.21.5\nCuda failure 'out of memory'")

    with pytest.raises(ZooError, match=r"^rank 1: NCCL error in: x, unhandled cuda error"):
        reported_once(failing)()


def test_an_error_on_one_process_is_its_line_and_the_waiting_one_ends_quietly(
        images: Path, tmp_path: Path) -> None:
    """Rank 0 fails merging a part file while rank 1 waits for it at a barrier."""
    out = tmp_path / "out"
    (out / "results.part1.csv").mkdir(parents=True)
    main, other = run_ranks(tmp_path, _bench_args(images, out))
    assert _codes([main, other]) == [2, 0], main.stderr + other.stderr
    assert main.stderr == f"error: {out}/results.part1.csv: Is a directory\n"
    assert other.stderr == ""


def test_more_processes_than_gpus_is_one_line_not_an_empty_leaderboard(images: Path,
                                                                      tmp_path: Path) -> None:
    """Two processes on a machine with one GPU: rank 1's `cuda:1` failed every model, and the
    job wrote a leaderboard without rows. Every process refuses it at the start."""
    out = tmp_path / "out"
    main, other = run_ranks(tmp_path, _bench_args(images, out), env={"FAKE_GPUS": "1"})
    assert _codes([main, other]) == [2, 0], main.stderr + other.stderr
    assert main.stderr == ("error: torchrun starts 2 processes on this machine, which has 1 CUDA "
                           "device(s) for one each: use --nproc-per-node 1, or put them all on one "
                           "device (--device cuda:0)\n")
    assert other.stderr == ""
    assert not out.exists()


def test_zoo_train_with_more_processes_than_gpus_is_one_line(images: Path, tmp_path: Path) -> None:
    from test_train import TINY, TINY_RECIPE

    out = tmp_path / "out"
    args = ["train", TINY, "--recipe", str(TINY_RECIPE), "--data", str(images), "--val", "",
            "--out", str(out), "--no-progress", "device=cuda"]
    main, other = run_ranks(tmp_path, args, env={"FAKE_GPUS": "1"})
    assert _codes([main, other]) == [2, 0], main.stderr + other.stderr
    assert main.stderr == ("error: override device=cuda: torchrun starts 2 processes on this "
                           "machine, which has 1 CUDA device(s) for one each: use --nproc-per-node "
                           "1, or put them all on one device (device=cuda:0)\n")
    assert other.stderr == ""


def test_a_refused_output_folder_stops_every_process_with_one_line(images: Path,
                                                                    tmp_path: Path) -> None:
    """zoo train: rank 0 is refused the lock while rank 1 would wait for it at a barrier."""
    from test_train import TINY, TINY_RECIPE

    from zoo.locks import folder_lock

    out = tmp_path / "out"
    args = ["train", TINY, "--recipe", str(TINY_RECIPE), "--data", str(images), "--val", "",
            "--out", str(out), "--no-progress"]
    with folder_lock(out):
        main, other = run_ranks(tmp_path, args)
    assert _codes([main, other]) == [2, 0], main.stderr + other.stderr
    assert main.stderr.startswith(f"error: {out}: another zoo command")
    assert len(main.stderr.splitlines()) == 1 and other.stderr == ""


def test_a_job_that_skips_every_image_writes_nothing(tmp_path: Path) -> None:
    """As in one process: no results.csv of a header alone, no lock file, no folder."""
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in "ab":
        (bad / f"{name}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 8)
    out = tmp_path / "new" / "out"
    main, other = run_ranks(tmp_path, _bench_args(bad, out))
    assert _codes([main, other]) == [1, 0], main.stderr + other.stderr
    assert "no image could be measured (all 2 skipped)" in main.stderr
    assert not (tmp_path / "new").exists()


def test_a_training_that_fails_at_start_ends_every_process_cleanly(tmp_path: Path) -> None:
    """Training data that cannot be read: rank 0 says so once; both end (the process group was
    left open on an error, and a process then aborted at exit, SIGABRT, in 2 of 9 runs, with
    torchrun naming the wrong rank)."""
    from test_train import TINY, TINY_RECIPE

    bad = tmp_path / "bad"
    bad.mkdir()
    for name in "ab":
        (bad / f"{name}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 8)
    args = ["train", TINY, "--recipe", str(TINY_RECIPE), "--data", str(bad), "--val", "",
            "--out", str(tmp_path / "out"), "--no-progress"]
    for _ in range(3):  # the abort came at random
        main, other = run_ranks(tmp_path, args)
        assert _codes([main, other]) == [2, 0], main.stderr + other.stderr
        assert "terminate called" not in main.stderr + other.stderr
        errors = [line for line in (main.stderr + other.stderr).splitlines() if "error" in line]
        assert len(errors) == 1 and errors[0] in main.stderr.splitlines(), errors
        assert main.stderr.count("skipping training image") == 2  # named once, by rank 0
        assert other.stderr == ""


def test_leave_ends_only_a_process_of_a_torchrun_job(monkeypatch: pytest.MonkeyPatch) -> None:
    import zoo.distributed as d

    assert d.leave(3) == 3  # not in a job: the code back, as it is
    ended: list[int] = []
    monkeypatch.setattr(d, "_joined", True)
    monkeypatch.setattr(d.os, "_exit", ended.append)
    d.leave(2)
    assert ended == [2]


def test_a_validation_off_the_log_steps_keeps_the_ranks_in_step(tmp_path: Path) -> None:
    """Rank 0 alone holds the validation set, and it checked the weights (an all-reduce since
    the check covers every rank's batch-norm statistics) at validation steps the other ranks
    did not: with validation.every=3 and log_every=5 the job hung."""
    from test_train import TINY, TINY_RECIPE

    rng = np.random.default_rng(0)
    for sub in ("train", "val"):
        (tmp_path / sub).mkdir()
        for name in "ab":
            Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(
                tmp_path / sub / f"{name}.png")
    args = ["train", TINY, "--recipe", str(TINY_RECIPE), "--data", str(tmp_path / "train"),
            "--val", str(tmp_path / "val"), "--out", str(tmp_path / "out"), "--no-progress",
            "log_every=5", "checkpoint.every=100", "validation.every=3"]
    main, other = run_ranks(tmp_path, args, timeout=90)
    assert _codes([main, other]) == [0, 0], main.stderr[-2000:] + other.stderr[-2000:]
    assert (tmp_path / "out" / "export" / "model.safetensors").is_file()


# --- under the real torchrun: what every process meets alike, said once ----------------------

HOLD = ("import os, sys, time\n"
        "from pathlib import Path\n"
        "import zoo.bench.runner as runner\n"
        "gather = runner._gather_outcomes\n"
        "def hold(*args):  # each rank's rows in its part file, the ranks not yet met\n"
        "    Path(os.environ['HELD'], os.environ['RANK']).touch()\n"
        "    time.sleep(120)\n"
        "runner._gather_outcomes = hold\n"
        "from zoo.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n")


def torchrun(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """``torchrun --nproc-per-node 2 ARGS`` (``-m zoo ...``, or a script and its words), its
    output and torchrun's together."""
    env = {name: value for name, value in os.environ.items() if name not in
           ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                             "--master-addr", "127.0.0.1", "--master-port", str(_free_port()), *args],
                            cwd=tmp_path, env={**env, "OMP_NUM_THREADS": "1", "HELD": str(tmp_path)},
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _job_lines(output: str) -> list[str]:
    """The processes' lines, without torchrun's (its log lines and its failure summary)."""
    summary = output.find("Traceback (most recent call last)")
    lines = (output if summary < 0 else output[:summary]).splitlines()
    return [line for line in lines if line.strip() and not re.match(r"[WEI]\d{4} ", line)]


@pytest.mark.parametrize("args, error", [
    (["bench", "--models", "nosuch"], "error: --models nosuch: no registry entry"),
    (["bench", "--models", "jpeg", "--metrics", "psnrr"], "error: --metrics: unknown metrics"),
    (["bench", "--models", "jpeg", "--bogus"], "zoo bench: error: unrecognized arguments: --bogus"),
    (["train", "unet-l1", "stages.train.lrr=3"],
     "error: override stages.train.lrr=3: unknown key 'stages.train.lrr'"),
])
def test_an_error_every_process_meets_is_printed_once_by_rank_0(
        images: Path, tmp_path: Path, args: list[str], error: str) -> None:
    """Each was printed by both processes (argparse's usage too). Rank 0 prints it and fails;
    the other ends quietly with status 0: a failed status of its own, first, would have
    torchrun stop rank 0 before it printed (SIGTERM)."""
    words = [*args, "--out", str(tmp_path / "out")]
    if args[0] == "bench":
        words += ["--data", str(images), "--no-progress"]
    job = torchrun(tmp_path, "-m", "zoo", *words)
    output, _ = job.communicate(timeout=120)
    lines = _job_lines(output)
    errors = [line for line in lines if "error:" in line]
    assert job.returncode != 0 and len(errors) == 1 and errors[0].startswith(error), output
    assert sum(line.startswith("usage:") for line in lines) == ("usage:" in output), output
    # torchrun names rank 0 (rank 1 either ended first, with 0, or was stopped by torchrun).
    root = output[output.index("Root Cause"):]
    assert "rank      : 0 " in root and "exitcode  : 2 " in root, output
    assert output.count("exitcode  : 2 ") == 1, output
    assert not (tmp_path / "out").exists()


def test_an_error_of_one_process_alone_is_named_by_rank_not_a_silent_success(
        images: Path, tmp_path: Path) -> None:
    """bench's checks ran where every process was taken to fail alike, after the join: the one
    process that failed ended quietly with status 0, the other then found its partner gone and
    ended quietly too, and the job exited 0 having printed nothing."""
    output, errors = _rank_1_differs(images, tmp_path, "if os.environ['RANK'] == '1':\n"
                                     "    os.environ['ZOO_MAX_IMAGE_PIXELS'] = 'many'\n")
    assert errors == ["error: rank 1: ZOO_MAX_IMAGE_PIXELS must be a positive whole number of "
                      "pixels, got 'many'"], output


def test_an_error_only_one_process_meets_before_the_join_is_said_not_a_hang(
        images: Path, tmp_path: Path) -> None:
    """An error taken for every process's (a suite file) met by rank 1 alone, its inputs other
    than rank 0's: rank 1 ended quietly with status 0 and rank 0 waited at the join for torch's
    30 minutes, having printed nothing. Still running after its grace, rank 1 says it and fails."""
    output, errors = _rank_1_differs(images, tmp_path, "d.ALIKE_GRACE_SECONDS = 2.0\n"
                                     "if os.environ['RANK'] == '1':\n"
                                     "    sys.argv += ['--suite', 'nosuch']\n")
    assert errors == ["error: nosuch: no such suite (known: default, literature, sample; or give "
                      "a .toml path)"], output
    assert "rank      : 1 " in output[output.index("Root Cause"):], output


def _rank_1_differs(images: Path, tmp_path: Path, prelude: str) -> tuple[str, list[str]]:
    """A torchrun bench job whose rank 1 runs ``prelude`` first (its own setting or words):
    the job's output and its error lines; the job must fail."""
    (tmp_path / "one.py").write_text("import os, sys\nimport zoo.distributed as d\n" + prelude +
                                     "from zoo.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    job = torchrun(tmp_path, "one.py", *_bench_args(images, tmp_path / "out"))
    output, _ = job.communicate(timeout=120)
    assert job.returncode != 0, output
    return output, [line for line in _job_lines(output) if "error:" in line]


def test_ctrl_c_under_torchrun_is_said_once_with_the_rows_kept(images: Path,
                                                               tmp_path: Path) -> None:
    """SIGINT to torchrun (``timeout -s INT``), which passes it on to both processes while each
    holds its rows in its part file: "interrupted" was printed by both, and the warning of
    where the rows are (printed in one process) by neither."""
    out = tmp_path / "out"
    (tmp_path / "hold.py").write_text(HOLD)
    job = torchrun(tmp_path, "hold.py", *_bench_args(images, out), "--protocol", "rgb")
    try:
        deadline = time.monotonic() + 90
        while not all((tmp_path / rank).exists() for rank in "01"):
            assert job.poll() is None and time.monotonic() < deadline, job.communicate()[0]
            time.sleep(0.2)
        job.send_signal(signal.SIGINT)
        output, _ = job.communicate(timeout=60)
    finally:
        job.kill()
        job.wait()
    lines = _job_lines(output)
    assert [line for line in lines if "interrupted" in line] == ["interrupted"], output
    assert [line for line in lines if line.startswith("warning:")] == [
        f"warning: images: stopped; the row rank 0 measured is kept in {out}/results.part0.csv, "
        "the other ranks' rows in their own part files; the same command merges them into "
        "results.csv and measures only the rest"], output
    assert sorted(p.name for p in out.glob("results.part*.csv")) == ["results.part0.csv",
                                                                    "results.part1.csv"]


# --- what each rank does, with the other rank's side of a collective faked ---------------------

def test_each_process_takes_the_gpu_of_its_local_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes on a machine with two GPUs each take their own; one on a machine with one
    GPU takes it."""
    import torch

    from zoo.distributed import local_cuda_device

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert [local_cuda_device(r, "hint") for r in (0, 1)] == ["cuda:0", "cuda:1"]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert local_cuda_device(0, "hint") == "cuda:0"


def test_the_main_process_names_the_rank_that_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.distributed import Ranks, ReportedElsewhere

    for rank, raised in ((0, ZooError), (1, ReportedElsewhere)):
        ranks = Ranks(rank=rank, world=3)
        monkeypatch.setattr(ranks, "gather", lambda line: [line, None, "disk full"])
        with pytest.raises(ZooError, match="^(rank 2: )?disk full$") as caught:
            ranks.together(lambda: 1)
        assert type(caught.value) is raised
        assert str(caught.value) == ("rank 2: disk full" if rank == 0 else "disk full")


def test_an_error_without_a_message_still_stops_every_rank() -> None:
    """``ZooError("")`` read as no error (its line empty): together returned None, and bench
    then failed unpacking it."""
    from zoo.distributed import Ranks

    with pytest.raises(ZooError):
        Ranks().together(lambda: (_ for _ in ()).throw(ZooError("")))


@pytest.fixture
def other_rank(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """torch.distributed as rank 1 of 2 sees it, rank 0 holding ``value``: all_reduce combines
    the two with its op, broadcast from rank 0 takes rank 0's tensor."""
    import torch
    import torch.distributed as dist

    other = {"value": 0.0}
    combine = {dist.ReduceOp.SUM: torch.add, dist.ReduceOp.MAX: torch.maximum,
               dist.ReduceOp.MIN: torch.minimum}

    def all_reduce(t: torch.Tensor, op: object = dist.ReduceOp.SUM) -> None:
        t.copy_(combine[op](t, torch.full_like(t, other["value"])))

    def broadcast(t: torch.Tensor, src: int) -> None:
        if src == 0:
            t.fill_(other["value"])

    monkeypatch.setattr(dist, "get_backend", lambda: "gloo")
    monkeypatch.setattr(dist, "all_reduce", all_reduce)
    monkeypatch.setattr(dist, "broadcast", broadcast)
    return other


def test_the_ranks_share_the_largest_value_the_mean_and_rank_0s_choice(
        other_rank: dict[str, float]) -> None:
    from zoo.train.distributed import Dist

    d = Dist(rank=1, world=2)
    other_rank["value"] = 5.0
    assert (d.largest(3.0), d.largest(7.0), d.mean(3.0)) == (5.0, 7.0, 4.0)
    other_rank["value"] = 1.0  # rank 0 chose "run" (index 1), this rank had not
    assert d.broadcast_choice("", ("", "run", "stage")) == "run"
