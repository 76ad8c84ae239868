"""``zoo push NAME --repo ORG/NAME``: write a model's Hub folder (config, weights, card) and upload it."""

from __future__ import annotations

import argparse

from zoo.cli.arg_types import named
from zoo.errors import ZooError, os_reason, printable
from zoo.terminal import console

out = console(soft_wrap=True, markup=False)  # paths and names as they are


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
    from zoo.atomic import unwritable_folder
    from zoo.ensemble import split_ensemble
    from zoo.hub import (check_publishable, check_repo_id, check_save_folder, local_paths,
                         save_pretrained, saved_training)
    from zoo.hub_push import check_token, push_to_hub
    from zoo.loading import is_saved_model, load_model

    check_repo_id(args.repo, f"--repo {args.repo!r}")
    if args.dry_run:  # before the model is loaded
        why = unwritable_folder(args.dry_run)
        if why:  # as restore's --out-dir says it (the save said "Not a directory", after loading)
            raise ZooError(f"--dry-run {args.dry_run}: {why}")
        check_save_folder(args.dry_run)
    else:
        check_token()
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
    out.print(f"{name}: weights from {printable(getattr(model, 'weights_source', 'nowhere'))}")
    paths = local_paths(training)
    if paths:
        more = f" (and {len(paths) - 3} more)" if len(paths) > 3 else ""
        out.print(f"{name}: its training.json names this machine's paths, published as they are: "
                  f"{printable(', '.join(paths[:3]))}{more}")
    if args.dry_run:
        try:
            folder = save_pretrained(model, args.dry_run, repo_id=args.repo, training=training)
        except OSError as exc:
            raise ZooError(f"--dry-run {args.dry_run}: cannot write there "
                           f"({os_reason(exc)})") from None
        for path in sorted(folder.iterdir()):
            out.print(f"  {printable(str(path))}  ({path.stat().st_size:,} bytes)")
        out.print(f"dry run: wrote the files for {args.repo} into {printable(str(folder))}; "
                      "nothing uploaded")
        return 0
    commit = push_to_hub(model, args.repo, private=args.private, training=training)
    out.print(f"pushed {name} to {args.repo}: {printable(commit.commit_url)}")
    return 0
