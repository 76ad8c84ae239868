"""Launch plumbing for commands that run under ``torchrun`` (``zoo bench``, ``zoo train``).

The torchrun variables read and checked (:func:`launch_env`), a rendezvous that tells when it
waits and gives up in time (:func:`join`), and errors that stop every rank but are printed once
(:class:`Ranks`, :func:`collective`, :func:`reported_once`): no rank is
left waiting for one that gave up, and none prints torch's traceback when another has ended.
What every process meets alike (the start's errors, :func:`alike_on_every_rank`; a Ctrl-C) is
said by one, :func:`speaks_for_the_job`. Commands that run in one process refuse a torchrun
launch (:func:`refuse_torchrun`).
"""

from __future__ import annotations

import functools
import io
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import (AbstractContextManager, ExitStack, contextmanager, nullcontext,
                        redirect_stderr, redirect_stdout)
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from zoo.errors import ZooError, error_line, first_line

T = TypeVar("T")
P = ParamSpec("P")

RENDEZVOUS_SECONDS = 300.0
"""How long a process waits for the others of its job to join (torch's own wait is 30 minutes)."""
WAITING_NOTICE_SECONDS = 5.0
"""How long a rendezvous may take before the process says what it waits for."""
ALIKE_GRACE_SECONDS = 20.0
"""How long a quiet process of a torchrun job waits, after an error every process should meet,
for torchrun to stop it (rank 0 met it too, said it and failed) before it says the error itself."""
PARTNER_FAILED = "another process of this torchrun job failed (see its error)"

_joined = False
"""Whether this process has joined a torchrun job's process group (:func:`join`)."""


class ReportedElsewhere(ZooError):
    """An error that another process of the job prints (rank 0 one that every rank met, a failed
    process its own): this one ends quietly."""


@dataclass(frozen=True)
class LaunchEnv:
    """What torchrun tells each process: its rank, the job's size, its rank on this machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0


def launch_env() -> LaunchEnv:
    """``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` as torchrun sets them; a missing or bad one is
    a one-line ZooError naming it."""
    world = _env_int("WORLD_SIZE", "1")
    if world < 1:
        raise ZooError(f"WORLD_SIZE={world}: the job's number of processes must be 1 or more")
    if world == 1:
        return LaunchEnv()
    missing = [name for name in ("RANK", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        names = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
        raise ZooError(f"WORLD_SIZE={world} but {names} "
                       f"{'is' if len(missing) == 1 else 'are'} not set; launch with torchrun "
                       "(which sets them all), or unset WORLD_SIZE to run in one process")
    rank, port = _env_int("RANK"), _env_int("MASTER_PORT")
    if not 0 <= rank < world:
        raise ZooError(f"RANK={rank}: must be from 0 to WORLD_SIZE-1 ({world - 1})")
    if not 0 < port < 2 ** 16:
        raise ZooError(f"MASTER_PORT={port}: not a port number (1 to 65535)")
    return LaunchEnv(rank=rank, world=world, local_rank=_env_int("LOCAL_RANK", "0"))


def _env_int(name: str, default: str | None = None) -> int:
    text = os.environ.get(name) or default or ""
    try:
        return int(text)
    except ValueError:
        raise ZooError(f"{name}={text!r}: not a whole number (torchrun sets it; unset WORLD_SIZE "
                       "to run in one process)") from None


def local_cuda_device(local_rank: int, one_device_hint: str) -> str:
    """This process's own GPU under torchrun, ``cuda:LOCAL_RANK``; refused in one line, the same
    in every process on the machine, when torchrun starts more processes on it than it has GPUs
    (the processes past the last GPU would fail alone, and their share of the work with them);
    the machine's first process prints it. ``one_device_hint`` says how to put every process on
    one GPU instead (``--device cuda:0``)."""
    import torch

    count = torch.cuda.device_count()
    local_world = max(_env_int("LOCAL_WORLD_SIZE", str(local_rank + 1)), local_rank + 1)
    if local_world > count:
        refusal = ZooError if local_rank == 0 else ReportedElsewhere
        raise refusal(f"torchrun starts {local_world} processes on this machine, which has {count} "
                      f"CUDA device(s) for one each: use --nproc-per-node {count}, or put them all "
                      f"on one device ({one_device_hint})")
    return f"cuda:{local_rank}"


def join(backend: str, env: LaunchEnv) -> bool:
    """Join the job's default process group (whether this call created it): a process left
    waiting says so after :data:`WAITING_NOTICE_SECONDS`, and gives up after
    :data:`RENDEZVOUS_SECONDS` with one line."""
    import torch.distributed as dist

    global _joined
    if dist.is_initialized():
        return False
    host, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    try:
        socket.getaddrinfo(host, port)
    except OSError as exc:
        raise ZooError(f"MASTER_ADDR={host!r}: no such host ({exc.strerror or exc})") from None
    others = f"the other {env.world - 1} process{'es' if env.world > 2 else ''} of this job"
    notice = threading.Timer(WAITING_NOTICE_SECONDS, print, (
        f"rank {env.rank}: waiting for {others} (WORLD_SIZE={env.world}) at {host}:{port}, "
        f"for up to {RENDEZVOUS_SECONDS:g} s", ), {"file": sys.stderr, "flush": True})
    notice.daemon = True
    notice.start()
    deadline = time.monotonic() + RENDEZVOUS_SECONDS
    try:
        if env.rank != 0:  # torch's own client logs every failed try with a C++ stack
            _wait_for_listener(host, port, deadline)
        left = timedelta(seconds=max(deadline - time.monotonic(), 1.0))
        store, _, _ = next(dist.rendezvous("env://", env.rank, env.world, timeout=left))
        # The short wait was for the others to come; once they have, collectives get torch's.
        store.set_timeout(dist.default_pg_timeout)
        dist.init_process_group(backend, store=store, rank=env.rank, world_size=env.world)
        _joined = True
    except (RuntimeError, ValueError, TimeoutError) as exc:  # DistStoreError, DistNetworkError
        raise ZooError(_join_failure(exc, others, f"{host}:{port}")) from None
    finally:
        notice.cancel()
    return True


def _wait_for_listener(host: str, port: int, deadline: float) -> None:
    """Until ``deadline``, try to reach the job's store at ``host:port``; TimeoutError, with the
    last try's reason, when it never answers."""
    while True:
        try:
            socket.create_connection((host, port), timeout=1.0).close()
            return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise TimeoutError(exc.strerror or str(exc)) from None
            time.sleep(0.5)


def _torch_reason(exc: BaseException) -> str:
    """The first line of torch's error, without the source location it starts with."""
    return re.sub(r"^\[[^\]]*\]\s*", "", first_line(exc))


def _join_failure(exc: BaseException, others: str, where: str) -> str:
    """Why the rendezvous failed."""
    reason = _torch_reason(exc)
    if isinstance(exc, TimeoutError) or "timed out" in reason.lower():
        return (f"{others} did not all join at {where} within {RENDEZVOUS_SECONDS:g} s "
                f"({reason}); start every process with torchrun")
    return f"cannot join {others} at {where} ({reason})"


_PARTNER_GONE = ("Connection closed by peer", "Connection reset by peer", "Broken pipe")
"""What gloo says when another process of the job has ended (its sockets closed)."""


@contextmanager
def collective(rank: int) -> Iterator[None]:
    """Where this process waits for the others. One of them gone ends this one quietly
    (:class:`ReportedElsewhere`): that one's own error says why, and torchrun names it. One
    that stopped answering (torch's timeout), and this process's own failure in the backend
    (NCCL out of memory, say), are one-line errors here, so that torchrun stops the job."""
    import torch.distributed as dist

    try:
        yield
    except RuntimeError as exc:
        reason = _torch_reason(exc)
        if any(marker in str(exc) for marker in _PARTNER_GONE):
            raise ReportedElsewhere(PARTNER_FAILED) from None
        if "Timed out" in reason:
            raise ZooError(f"rank {rank}: another process of this torchrun job stopped answering "
                           f"({reason})") from None
        if isinstance(exc, dist.DistError):
            raise ZooError(f"rank {rank}: {reason}") from None
        raise


def reported_once(run: Callable[P, T]) -> Callable[P, T | int]:
    """``run`` (a command), where an error another process reports ends this one quietly, with
    status 0: a non-zero one could make torchrun stop that process before it has printed."""
    @functools.wraps(run)
    def quiet_when_reported(*args: P.args, **kwargs: P.kwargs) -> T | int:
        try:
            return run(*args, **kwargs)
        except ReportedElsewhere:
            return 0

    return quiet_when_reported


def leave(code: int) -> int:
    """End a process that joined a torchrun job with ``code`` once its output is out, without
    the interpreter's teardown, where gloo's threads (one still waiting to receive from a
    process that has ended) abort it: "terminate called without an active exception", SIGABRT,
    after every line was printed and every file written (pytorch/pytorch#190489, gloo's
    receive that cannot be interrupted). Elsewhere ``code`` is returned as it is."""
    if not _joined:
        return code
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said anyway
            pass
    os._exit(code)


def refuse_torchrun(command: str) -> None:
    """A command that runs in one process refuses a torchrun launch, where every rank would do
    all of its work (the main process says so, the others end quietly)."""
    if _env_int("WORLD_SIZE", "1") <= 1:
        return
    with alike_on_every_rank():
        raise ZooError(f"{command} runs in one process; run it without torchrun")


def speaks_for_the_job() -> bool:
    """Whether this process prints what every process of its torchrun job meets alike (an error
    of the start, a Ctrl-C): a process run alone, or rank 0, which on each machine means its
    first process (LOCAL_RANK 0), as files and devices are each machine's own. Read from the
    variables torchrun sets; a bad one counts as rank 0 (:func:`launch_env` says what is bad)."""
    try:
        if _env_int("WORLD_SIZE", "1") <= 1:
            return True
        return _env_int("LOCAL_RANK", os.environ.get("RANK") or "0") == 0
    except ZooError:
        return True


@contextmanager
def alike_on_every_rank() -> Iterator[None]:
    """Work every process of a torchrun job does alike, from the same command line and the same
    files, before the processes join (parse the arguments, read a recipe or a suite; after the
    join, :meth:`Ranks.together` says whose error it is): its errors are every process's, so
    that one process prints them (:func:`speaks_for_the_job`) and the others end quietly
    (:class:`ReportedElsewhere`, status 0: a non-zero status from a process that ends first has
    torchrun stop the one still printing), once torchrun has had time to stop them
    (:func:`_not_stopped`). What those others would print there (argparse's usage, a warning)
    is not repeated either. Outside a torchrun job, and on the process that speaks, nothing
    changes."""
    if speaks_for_the_job():
        yield
        return
    hidden = io.StringIO()
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(hidden):
            yield
    except ZooError as exc:  # an OSError (a file this process cannot read) is its own to say
        if _not_stopped(hidden.getvalue()):
            raise
        raise ReportedElsewhere(error_line(exc)) from None
    except SystemExit as exc:  # argparse's usage error (its --help ends with status 0)
        if exc.code in (0, None) or _not_stopped(hidden.getvalue()):
            raise
        raise ReportedElsewhere(f"exit status {exc.code}") from None


def _not_stopped(hidden: str) -> bool:
    """Under torchrun's agent, whether this process is still running :data:`ALIKE_GRACE_SECONDS`
    after its error: the agent stops it once rank 0 has met the same error and failed; still
    running, rank 0 did not meet it (the inputs differ between the processes) and would wait at
    the join for this one, so what was hidden is said, and the error is this process's own to
    end it with. Elsewhere (the variables set by hand, no agent) False at once."""
    if not os.environ.get("TORCHELASTIC_RUN_ID"):
        return False
    time.sleep(ALIKE_GRACE_SECONDS)
    sys.stderr.write(hidden)
    return True


@dataclass
class Ranks:
    """This process's place in a torchrun job (rank 0 of 1 outside one), and the meetings every
    rank must reach; an error on one stops them all, printed once."""

    rank: int = 0
    world: int = 1

    @property
    def enabled(self) -> bool:
        """Whether there are other ranks (a torchrun job of more than one process)."""
        return self.world > 1

    @property
    def main(self) -> bool:
        """Whether this is rank 0 (always, outside torchrun): the process that writes shared files."""
        return self.rank == 0

    def watched(self) -> AbstractContextManager[None]:
        """Where this process may wait for the others (a collective, DDP's gradient exchange):
        :func:`collective` under torchrun."""
        return collective(self.rank) if self.enabled else nullcontext()

    def barrier(self) -> None:
        """Wait until every rank gets here (nothing to wait for outside torchrun)."""
        if self.enabled:
            import torch.distributed as dist

            with self.watched():
                dist.barrier()

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order (on every rank)."""
        if not self.enabled:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        with self.watched():
            dist.all_gather_object(out, obj)
        return out

    def together(self, step: Callable[[], T]) -> T:
        """``step()`` on every rank, then a meeting: a ZooError or OSError on any rank stops
        every one, before any waits for another. The main process raises it (its own as it is,
        another's named by rank), the others :class:`ReportedElsewhere`."""
        try:
            result, error = step(), None
        except (ZooError, OSError) as exc:
            result, error = None, exc
        # An error without a message is one still: its type's name (else it read as none).
        said = self.gather((error_line(error) or type(error).__name__) if error else None)
        failed = [(rank, line) for rank, line in enumerate(said) if line]
        if not failed:
            return result  # type: ignore[return-value]  # step() returned
        if not self.main:
            raise ReportedElsewhere(failed[0][1])
        if error is not None:
            raise error
        raise ZooError(f"rank {failed[0][0]}: {failed[0][1]}")

    @contextmanager
    def main_holds(self, enter: Callable[[ExitStack], None]) -> Iterator[None]:
        """Run ``enter`` (which takes a lock, say, into the given stack) on the main process
        only, and hold what it entered while the block runs; every rank hears of its error
        (:meth:`together`) before any waits for another."""
        with ExitStack() as held:
            self.together(lambda: enter(held) if self.main else None)
            yield
