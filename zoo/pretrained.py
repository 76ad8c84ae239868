"""Where a registry entry's weights come from, and loading them into its network.

Resolution order: an explicit path; the copy shipped in ``zoo/weights/`` when it is the
registry's file (its sha256); then the Hugging Face Hub (the entry's revision, through
huggingface_hub's cache; ``HF_HUB_OFFLINE`` honoured). The registry's sha256 admits one file
only, so a Hub copy could only repeat a sound shipped one: asking the Hub first cost every
online load a request (a warning while the entry's repo is not published) and broke it when
the repo's ``main`` moved on to other weights. Which copy was used is logged and returned as
:class:`ResolvedWeights`.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from zoo.errors import WeightsError, first_line
from zoo.resources import PACKAGE_DIR, WEIGHTS_DIR
from zoo.weights import REDOWNLOAD, load_weights, sha256_file

if TYPE_CHECKING:
    from torch import nn

    from zoo.registry import ModelInfo

__all__ = ["HUB_TIMEOUT_S", "ResolvedWeights", "hub_file", "load_entry_weights", "resolve_weights",
           "shipped_weights_path", "weights_availability"]

log = logging.getLogger(__name__)

HUB_TIMEOUT_S = 3.0
"""Seconds to wait for the Hub's answer before falling back to the cache and the shipped copy."""

_COMMIT_HASH = re.compile(r"[0-9a-f]{40}")
_HUB_NAME = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
"""A Hub file's ETag: its git blob's sha1, or a large (LFS) file's sha256."""

Source = Literal["path", "hub", "hub cache", "shipped", "none"]


@dataclass(frozen=True)
class ResolvedWeights:
    """A weights file and where it came from (``source``), with a line for the user."""

    path: Path | None
    source: Source
    detail: str = ""
    sha256: str | None = None
    """The file's sha256 where it was already computed (the shipped copy, a Hub blob), so that
    loading it need not read the file again to check it against the registry."""

    def __str__(self) -> str:
        return f"{self.source}: {self.detail}" if self.detail else self.source


def hub_file(repo: str, file: str, revision: str = "main",
             misses: list[str] | None = None) -> ResolvedWeights | None:
    """A file from the Hub or huggingface_hub's cache; None when neither has it (why is
    appended to ``misses``).

    An unreachable Hub is detected with one short request, so the fallback comes quickly. A
    cached file whose content is not the one the Hub named (its sha256, for the large files the
    Hub stores by it) is refused in one line, whatever its source.
    """
    from huggingface_hub import (
        constants,
        get_hf_file_metadata,
        hf_hub_download,
        hf_hub_url,
        try_to_load_from_cache,
    )
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    where = f"{repo}@{revision}/{file}"

    def from_cache(reason: str) -> ResolvedWeights | None:
        try:
            path = hf_hub_download(repo, file, revision=revision,
                                   local_files_only=True)
        except _CACHE_ERRORS as exc:
            raise _cache_error(where, exc) from None
        except LocalEntryNotFoundError:
            log.info("%s: %s and not in the Hugging Face cache", where, reason)
            if misses is not None:
                misses.append(reason)
            return None
        except ValueError as exc:  # a cache entry that points outside the cache, say
            raise WeightsError(f"{where}: the Hugging Face cache cannot give it "
                               f"({first_line(exc)}); check the revision") from None
        return _checked(Path(path), "hub cache", f"{where}{_commit(path)} ({reason}; cached copy)")

    if constants.is_offline_mode():
        return from_cache("HF_HUB_OFFLINE is set")
    if _COMMIT_HASH.fullmatch(revision):  # a cached commit never changes: no need to ask the Hub
        cached = try_to_load_from_cache(repo, file, revision=revision)
        if isinstance(cached, str):
            return _checked(Path(cached), "hub cache", f"{where} (pinned commit, cached copy)")
    # Set explicitly, even to huggingface_hub's default; else a short wait of the zoo's own
    timeout = (constants.HF_HUB_ETAG_TIMEOUT if os.environ.get("HF_HUB_ETAG_TIMEOUT")
               else HUB_TIMEOUT_S)
    # One HEAD without retries first: hf_hub_download retries an unreachable Hub for ~20 s
    # before it gives up, which is too long a wait for a fallback that exists.
    url = hf_hub_url(repo, file, revision=revision)
    try:
        metadata = get_hf_file_metadata(url, timeout=timeout)
    except NotADirectoryError as exc:  # HF_HOME under a file: its token is read first
        raise _cache_error(where, exc) from None
    except HfHubHTTPError as exc:  # said in the result, or in the error when nothing is cached
        return from_cache(hub_answer(exc))
    except Exception as exc:  # noqa: BLE001  (httpx's network errors: the Hub is unreachable)
        return from_cache(f"the Hub is unreachable ({type(exc).__name__})")
    # huggingface_hub names the cached file by the ETag and the folder by the commit, as sent: an
    # answer such as ETag "../../x" would be written outside the cache (a hostile mirror).
    if not (_HUB_NAME.fullmatch(metadata.etag or "")
            and _COMMIT_HASH.fullmatch(metadata.commit_hash or "")):
        raise WeightsError(f"{where}: the Hub's answer names the file {metadata.etag!r} at commit "
                           f"{metadata.commit_hash!r}, not hashes as the Hub's are; refused (is "
                           "HF_ENDPOINT a Hub you trust?)")
    try:
        path = hf_hub_download(repo, file, revision=revision, etag_timeout=timeout)
    except _CACHE_ERRORS as exc:  # its cache, not the Hub
        raise _cache_error(f"downloading {where} failed", exc) from None
    except Exception as exc:  # noqa: BLE001  (a download cut off after a successful HEAD)
        raise WeightsError(f"downloading {where} failed ({first_line(exc)}); run again, "
                           "or set HF_HUB_OFFLINE=1 to use a cached or shipped copy") from None
    return _checked(Path(path), "hub", f"{where}{_commit(path)}")


HUB_ERROR_CODES = {"RepoNotFound": "no such repo, or a private one",
                   "RevisionNotFound": "no such revision", "EntryNotFound": "no such file in the repo",
                   "GatedRepo": "a gated repo"}
"""The Hub's ``X-Error-Code`` answers (a 404 or 401 alone does not tell them apart), in words."""


def hub_answer(exc: Exception) -> str:
    """The Hub's refusal in a few words: its HTTP status and what its error code means."""
    response = getattr(exc, "response", None)
    status = response.status_code if response is not None else "?"
    code = response.headers.get("X-Error-Code", "") if response is not None else ""
    meaning = HUB_ERROR_CODES.get(code)
    return f"the Hub answered HTTP {status}" + (f": {meaning}" if meaning else "")


_CACHE_ERRORS = (PermissionError, NotADirectoryError, FileExistsError)
"""What huggingface_hub raises when its cache folder (HF_HOME, HF_HUB_CACHE) cannot be used."""


def _cache_error(what: str, exc: OSError) -> WeightsError:
    return WeightsError(f"{what}: the Hugging Face cache cannot be used ({first_line(exc)}); "
                        "point HF_HOME (or HF_HUB_CACHE) at a folder you can write")


def _commit(path: str | os.PathLike[str]) -> str:
    """`` (commit 1a2b3c4d5e6f)``: the revision's commit a cached file belongs to (its snapshot
    folder), so that a leaderboard can say which weights it scored."""
    folder = Path(path).parent.name
    return f" (commit {folder[:12]})" if _COMMIT_HASH.fullmatch(folder) else ""


def _checked(path: Path, source: Source, detail: str) -> ResolvedWeights:
    """``path`` as a result, once its content is the one the Hub named: huggingface_hub keeps a
    large file under its sha256 (the blob the snapshot links to) but does not check the
    download against it, so a cut or altered transfer would stay in the cache for good."""
    blob = path.resolve()
    if not re.fullmatch(r"[0-9a-f]{64}", blob.name):  # a small file, kept under its git hash
        return ResolvedWeights(path, source, detail)
    actual = sha256_file(blob)
    if actual != blob.name:
        raise WeightsError(f"{path}: the cached download is damaged (sha256 {actual[:12]}..., "
                           f"the Hub named {blob.name[:12]}...); delete {blob} and run again")
    return ResolvedWeights(path, source, detail, sha256=actual)


def shipped_weights_path(info: ModelInfo) -> Path:
    """The copy shipped inside the package: ``zoo/weights/<entry name>.safetensors``."""
    return WEIGHTS_DIR / f"{info.name}.safetensors"


def _in_package(path: Path) -> str:
    """``zoo/weights/NAME.safetensors``: the shipped copy named without where the package is
    installed (the name is recorded in committed leaderboards' meta.json)."""
    try:
        return path.relative_to(PACKAGE_DIR.parent).as_posix()
    except ValueError:
        return str(path)


def resolve_weights(info: ModelInfo, path: str | os.PathLike[str] | None = None) -> ResolvedWeights:
    """Find the weights file of a registry entry: explicit path, the shipped copy when it is the
    registry's file, the Hub (or its cache); a damaged shipped copy as the last resort (its load
    then says to reinstall)."""
    if path is not None:
        resolved = ResolvedWeights(Path(path), "path", str(path))
    elif info.weights is None:
        raise WeightsError(f"model {info.name!r} has no pretrained weights; pass a weights file "
                           "(--weights PATH; in `zoo train`, model.init=PATH) or train it with "
                           f"`zoo train {info.name}`")
    elif _sound_shipped_copy(info):
        shipped = shipped_weights_path(info)
        resolved = ResolvedWeights(shipped, "shipped", _in_package(shipped),
                                   sha256=info.weights.sha256)
    else:  # none shipped, or a damaged one: the Hub may have the registry's file
        w = info.weights
        misses: list[str] = []
        resolved = hub_file(w.hub_repo, w.file, w.revision, misses) if w.hub_repo else None
        if resolved is None:
            shipped = shipped_weights_path(info)
            if not shipped.is_file():
                hub = f" or Hub repo {w.hub_repo}" if w.hub_repo else ""
                why = f" ({misses[-1]})" if misses else ""
                raise WeightsError(
                    f"weights {w.file} for {info.name!r} are neither in the Hugging Face "
                    f"cache{hub}{why} nor shipped as {shipped}; get them from the Hub online "
                    "or pass a weights file (--weights PATH)")
            resolved = ResolvedWeights(shipped, "shipped", _in_package(shipped))
    log.info("weights for %s from %s", info.name, resolved)
    return resolved


def _sound_shipped_copy(info: ModelInfo) -> bool:
    """Whether the package ships ``info``'s weights file as the registry's sha256 names it."""
    shipped = shipped_weights_path(info)
    return info.weights is not None and _is_registry_file(shipped, info.weights.sha256)


def _is_registry_file(path: Path, sha256: str) -> bool:
    try:
        return path.is_file() and sha256_file(path) == sha256
    except OSError:  # unreadable: the Hub, else the load's own one-line error
        return False


def load_entry_weights(model: nn.Module, info: ModelInfo,
                       path: str | os.PathLike[str] | None = None) -> ResolvedWeights:
    """Resolve and strictly load a registry entry's weights into ``model``.

    The registry's sha256 is checked for the Hub and shipped copies; an explicit path is the
    user's own file (e.g. a training export) and is checked for completeness and fit only.
    A model without parameters or buffers needs no weights.
    """
    if path is None and info.weights is None and not model.state_dict():
        resolved = ResolvedWeights(None, "none", "the model has no parameters")
    else:
        resolved = resolve_weights(info, path)
        assert resolved.path is not None
        checked = (info.weights and resolved.source != "path"
                   and resolved.sha256 != info.weights.sha256)
        expected = info.weights.sha256 if checked else None
        remedy = ("the copy shipped with the package is damaged: reinstall zoo"
                  if resolved.source == "shipped" else _hub_remedy(info, resolved))
        load_weights(model, resolved.path, expected_sha256=expected, remedy=remedy)
    # Kept on the model so that the CLI can say where its weights came from.
    model.weights_source = str(resolved)
    return resolved


def holds_released_weights(model: object) -> bool:
    """Whether ``model`` holds its registry entry's released weights (the shipped copy, or the
    entry's Hub repo or its cache), not a user's file."""
    return str(getattr(model, "weights_source", None) or "").startswith(("shipped", "hub"))


def _hub_remedy(info: ModelInfo, resolved: ResolvedWeights) -> str:
    """What to do about a Hub copy that is not the registry's file. Its download was sound
    (:func:`_checked`), so the entry's revision holds other weights: deleting the copy would
    only fetch them again."""
    if resolved.source not in ("hub", "hub cache") or info.weights is None:
        return REDOWNLOAD
    w = info.weights
    return (f"the Hub's {w.hub_repo}@{w.revision} holds other weights than this zoo's registry "
            "names: use a zoo version made for them, or pass a weights file (--weights PATH)")


def weights_availability(info: ModelInfo) -> Literal["shipped", "hub cache", "damaged", "none"]:
    """Where an entry's weights can be had without the network (for ``zoo list``): the copy
    :func:`resolve_weights` would take offline, so a sound shipped copy before a Hub cache one;
    ``damaged`` for a shipped copy that is not the registry's file, with no other."""
    if info.weights is None:
        return "none"
    if _sound_shipped_copy(info):
        return "shipped"
    if info.weights.hub_repo:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(info.weights.hub_repo, info.weights.file,
                                        revision=info.weights.revision)
        if isinstance(cached, str) and _is_registry_file(Path(cached), info.weights.sha256):
            return "hub cache"
    return "damaged" if shipped_weights_path(info).is_file() else "none"
