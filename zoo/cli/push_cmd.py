"""``zoo push NAME --repo ORG/NAME``: write a model's Hub folder (config, weights, card) and upload it."""

from __future__ import annotations

import argparse
import socket

from rich.console import Console

from zoo.cli.arg_types import named
from zoo.errors import ZooError, first_line, os_reason, printable

console = Console(highlight=False, soft_wrap=True, markup=False)  # paths and names as they are


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "push", help="upload a model to the Hugging Face Hub",
        description="Write config.json, model.safetensors (float16) and a model card for a model, "
                    "and upload them to a Hub repo (created if needed). The token comes from "
                    "`hf auth login` or HF_TOKEN.")
    parser.add_argument("name", type=named("a model"), help="registry name, saved folder, or hf-hub:ORG/NAME")
    parser.add_argument("--repo", required=True, metavar="ORG/NAME", help="the Hub repo to push to")
    parser.add_argument("--weights", metavar="PATH", type=named("a safetensors file"),
                        help="safetensors file to push instead of the entry's pretrained weights")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--dry-run", type=named("a folder"), metavar="DIR",
                        help="write the repo's files into DIR and upload nothing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from zoo.ensemble import split_ensemble
    from zoo.hub import (check_publishable, check_repo_id, check_save_folder, push_to_hub,
                         save_pretrained, saved_training)
    from zoo.loading import is_saved_model, load_model

    check_repo_id(args.repo, f"--repo {args.repo!r}")
    if args.dry_run:
        check_save_folder(args.dry_run)  # before the model is loaded
    else:
        _check_token()
    base, ensemble = split_ensemble(args.name)
    if ensemble:
        raise ZooError(f"{args.name}: a self-ensemble is a way of running a model, not weights; "
                       f"push {base} (load it as {args.name} after)")
    model = load_model(args.name, device="cpu", weights=args.weights)
    check_publishable(model)
    # A `zoo train` export keeps its training record on the Hub too, and so does a saved model
    # published again (from its folder, its weights file or its Hub repo).
    training = saved_training(args.name) if is_saved_model(args.name) and args.weights is None else None
    # A saved config.json names the model: its control characters would drive the terminal.
    name = printable(model.name)
    console.print(f"{name}: weights from {printable(getattr(model, 'weights_source', 'nowhere'))}")
    if args.dry_run:
        try:
            folder = save_pretrained(model, args.dry_run, repo_id=args.repo, training=training)
        except OSError as exc:
            raise ZooError(f"--dry-run {args.dry_run}: cannot write there "
                           f"({os_reason(exc)})") from None
        for path in sorted(folder.iterdir()):
            console.print(f"  {printable(str(path))}  ({path.stat().st_size:,} bytes)")
        console.print(f"dry run: wrote the files for {args.repo} into {printable(str(folder))}; "
                      "nothing uploaded")
        return 0
    try:
        commit = push_to_hub(model, args.repo, private=args.private, training=training)
    except ZooError:
        raise
    except Exception as exc:  # noqa: BLE001  (HTTP and network errors of huggingface_hub)
        raise ZooError(f"push to {args.repo} failed: {_hub_reason(exc)}") from None
    console.print(f"pushed {name} to {args.repo}: {printable(commit.commit_url)}")
    return 0


def _check_token() -> None:
    """A push needs a token; without one the Hub's 401 came after the model was loaded."""
    from huggingface_hub import get_token

    if not get_token():
        raise ZooError("no Hugging Face token: run `hf auth login` or set HF_TOKEN (or write the "
                       "files only, with --dry-run DIR)")


def _hub_reason(exc: Exception) -> str:
    """The Hub's own reason where it gave one ("Invalid username or password."), not only
    the status line."""
    reason = first_line(exc)
    server = getattr(exc, "server_message", None)
    if server and first_line(server) not in reason:
        reason = f"{reason} ({first_line(server)})"
    if getattr(getattr(exc, "response", None), "status_code", None) in (401, 403):
        reason += "; check your token (`hf auth login` or HF_TOKEN) and its write access to the repo"
    elif _unreachable(exc):
        reason += ("; the Hub could not be reached: check your connection (or write the files "
                   "only, with --dry-run DIR)")
    return reason


def _unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` is the network failing rather than the Hub answering: a name not
    resolved, a connection refused or timed out (not any OSError: a full disk is not the
    network), or the HTTP client's transport error, matched by name because that client is
    huggingface_hub's choice (httpx's TransportError)."""
    return (isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror))
            or any(c.__name__ == "TransportError" for c in type(exc).__mro__))
