"""zoo.cli.children: a child's failure is one line saying what ran and why; a child stopped by
Ctrl-C stops the parent too; the rows measured before a Ctrl-C are kept; a child's peak memory
is measured from where it starts."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

import zoo.cli.children
from zoo.cli.children import ChildError, PeakMemory, child_reason, run_child, until_interrupted
from zoo.errors import ZooError


def _done(returncode: int, stdout: str = "", stderr: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess([], returncode, stdout, stderr)


def test_the_reason_is_the_last_line_written_else_how_the_child_ended() -> None:
    assert child_reason(_done(2, "ignored\n", "warning: x\nerror: bad input\n\n")) == "bad input"
    assert child_reason(_done(1, "  last on stdout  \n", "")) == "last on stdout"
    assert child_reason(_done(3)) == "exit status 3"
    assert child_reason(_done(-signal.SIGKILL)) == "killed by SIGKILL"


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_run_child_returns_the_output_and_a_failure_is_one_line() -> None:
    done = run_child(_python("import sys; print('out'); print('err', file=sys.stderr)"), "echo")
    assert (done.stdout, done.stderr) == ("out\n", "err\n")

    with pytest.raises(ChildError) as failed:
        run_child(_python("import sys; print('Traceback'); sys.exit('error: it broke')"), "a step")
    assert isinstance(failed.value, ZooError)
    assert str(failed.value) == "a step: it broke" and failed.value.reason == "it broke"
    assert failed.value.returncode == 1 and failed.value.stderr == "error: it broke\n"


@pytest.mark.parametrize("code", ["import sys; sys.exit(130)",
                                  "import os, signal; os.kill(os.getpid(), signal.SIGINT)"])
def test_a_child_stopped_by_ctrl_c_is_a_keyboard_interrupt(code: str) -> None:
    with pytest.raises(KeyboardInterrupt):
        run_child(_python("import signal; signal.signal(signal.SIGINT, signal.SIG_DFL); " + code),
                  "a step")


def _rows(stop_after: int | None) -> Iterator[int]:
    for n in range(3):
        if n == stop_after:
            raise KeyboardInterrupt
        yield n


def test_until_interrupted_keeps_the_rows_finished_before_ctrl_c() -> None:
    assert until_interrupted(_rows(None)) == ([0, 1, 2], False)
    assert until_interrupted(_rows(2)) == ([0, 1], True)
    assert until_interrupted(_rows(0)) == ([], True)


MIB = 2**20


def test_peak_memory_on_the_cpu_is_the_rise_of_the_peak_resident_set(monkeypatch) -> None:
    readings = iter([300.0, 420.0, 450.0])
    monkeypatch.setattr(zoo.cli.children, "peak_rss_mb", lambda: next(readings))
    memory = PeakMemory("cpu")
    assert memory.taken_mb() == 120.0
    assert memory.fields() == {"peak_rss_mb": 450.0, "rss_before_mb": 300.0}


def test_peak_memory_on_cuda_is_the_allocated_peak_of_that_device(monkeypatch) -> None:
    """The peak is reset at the start (an earlier 900 MiB is not this run's), and the statistics
    are those of the device measured (``cuda:1``), not the current one."""
    import torch

    asked: list[object] = []
    allocated = {"now": 100 * MIB, "peak": 900 * MIB}

    def read(key: str) -> Callable[..., int]:
        return lambda device=None: asked.append(device) or allocated[key]

    def reset(device: object = None) -> None:
        asked.append(device)
        allocated["peak"] = allocated["now"]

    monkeypatch.setattr(zoo.cli.children, "peak_rss_mb", lambda: 50.0)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", reset)
    monkeypatch.setattr(torch.cuda, "memory_allocated", read("now"))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", read("peak"))
    memory = PeakMemory("cuda:1")
    allocated["peak"] = max(allocated["peak"], 350 * MIB)  # the work measured
    assert memory.taken_mb() == 250.0
    assert memory.fields() == {"peak_rss_mb": 50.0, "rss_before_mb": 50.0, "peak_cuda_mb": 350.0}
    assert set(asked) == {"cuda:1"}
