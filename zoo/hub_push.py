"""Uploading a saved model to the Hugging Face Hub (``zoo push``): the token checked first, the
folder written before the repo is created, the Hub's own reason on failure."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError, first_line
from zoo.hub import check_publishable, check_repo_id, save_pretrained
from zoo.model_card import TRAINING_FILE

if TYPE_CHECKING:
    from huggingface_hub import CommitInfo, HfApi

    from zoo.models.base import Restorer

__all__ = ["check_token", "hub_reason", "push_to_hub"]


def push_to_hub(model: Restorer, repo_id: str, *, private: bool = False, token: str | None = None,
                commit_message: str | None = None, api: HfApi | None = None,
                training: dict[str, Any] | None = None) -> CommitInfo:
    """Create (if needed) the Hub repo ``repo_id`` and upload the model's folder to it
    (with ``training.json`` and the card's training section when ``training`` is given).

    The folder is written before anything is asked of the Hub, so that a model that cannot be
    saved leaves no empty repo behind. A ``training.json`` of an earlier push to the repo is
    removed when this model has none (it would describe another model). ``private`` cannot
    hide a repo that exists and is public: that is refused.
    """
    from huggingface_hub import HfApi

    check_publishable(model)  # before the repo is created
    check_repo_id(repo_id)
    if api is None:
        check_token(token)
    api = api or HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="zoo-push-") as tmp:
        folder = save_pretrained(model, tmp, repo_id=repo_id, training=training)
        try:
            return _upload(api, model, repo_id, folder, private=private, training=training,
                           commit_message=commit_message)
        except ZooError:
            raise
        except Exception as exc:  # noqa: BLE001  (HTTP and network errors of huggingface_hub)
            raise ZooError(f"push to {repo_id} failed: {hub_reason(exc)}") from None


_FILES_ONLY = "or write the files only: `zoo push --dry-run DIR`, zoo.hub.save_pretrained"
FIRST_ANSWER_TIMEOUT_S = 20.0
"""Seconds the push waits for the Hub's answer to its first request (whether the repo exists):
huggingface_hub's own requests wait without end, so a Hub that accepts the connection and never
answers hung ``zoo push`` for good. The upload itself, once the Hub has answered, is not timed."""


def check_token(token: str | None = None) -> None:
    """A push needs the Hub (HF_HUB_OFFLINE unset) and a token (``token``, else `hf auth
    login`'s or HF_TOKEN): refused in one line before anything is loaded or written, rather than
    by a failed connection or the Hub's 401 after."""
    from huggingface_hub import constants, get_token

    if constants.is_offline_mode():  # else the model loads, then "check your connection"
        raise ZooError(f"HF_HUB_OFFLINE is set: a push needs the Hub; unset it ({_FILES_ONLY})")
    if not (token or get_token()):
        raise ZooError(f"no Hugging Face token: run `hf auth login` or set HF_TOKEN ({_FILES_ONLY})")


def hub_reason(exc: Exception) -> str:
    """The Hub's own reason where it gave one ("Invalid username or password."), not only
    the status line, and what to check."""
    reason = first_line(exc)
    server = getattr(exc, "server_message", None)
    if server and first_line(server) not in reason:
        reason = f"{reason} ({first_line(server)})"
    if getattr(getattr(exc, "response", None), "status_code", None) in (401, 403):
        reason += "; check your token (`hf auth login` or HF_TOKEN) and its write access to the repo"
    elif _unreachable(exc):
        reason += f"; the Hub could not be reached: check your connection ({_FILES_ONLY})"
    return reason


def _unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` is the network failing rather than the Hub answering: a name not
    resolved, a connection refused or timed out (not any OSError: a full disk is not the
    network), or the HTTP client's transport error, matched by name because that client is
    huggingface_hub's choice (httpx's TransportError)."""
    return (isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror))
            or any(c.__name__ == "TransportError" for c in type(exc).__mro__))


def _upload(api: HfApi, model: Restorer, repo_id: str, folder: Path, *, private: bool,
            training: dict[str, Any] | None, commit_message: str | None) -> CommitInfo:
    """Create the repo where needed and commit ``folder``'s files to it."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    existing = _repo_privacy(api, repo_id)
    if existing is None:
        api.create_repo(repo_id, private=private, exist_ok=True)
    elif private and not existing:
        raise ZooError(f"{repo_id} exists and is public: --private does not change an existing "
                       "repo; make it private on the Hub first, or push to a new repo")
    operations: list[Any] = [CommitOperationAdd(path_in_repo=path.name, path_or_fileobj=str(path))
                             for path in sorted(folder.iterdir())]
    if (existing is not None and training is None
            and api.file_exists(repo_id, TRAINING_FILE)):
        operations.append(CommitOperationDelete(path_in_repo=TRAINING_FILE))
    return api.create_commit(repo_id, operations=operations,
                             commit_message=commit_message or f"Upload {model.name} with zoo")


def _repo_privacy(api: HfApi, repo_id: str) -> bool | None:
    """Whether the repo is private; None when it does not exist (or is not visible to us)."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        return bool(api.repo_info(repo_id, timeout=FIRST_ANSWER_TIMEOUT_S).private)
    except RepositoryNotFoundError:
        return None
