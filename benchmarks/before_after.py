"""The README's before/after figure, from the crops a leaderboard run wrote.

    python benchmarks/before_after.py                     # leaderboard/sample, chelsea, rgb, q10
    python benchmarks/before_after.py --image astronaut --out /tmp/fig.png

Panels, left to right: the JPEG, each model, the ground truth (the crops of
``leaderboard/<set>/crops/``, which ``zoo bench`` writes for the HTML page).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backend_bases import FigureCanvasBase  # noqa: E402

from zoo.atomic import atomic_write, check_output_file  # noqa: E402
from zoo.cli.arg_types import jpeg_quality  # noqa: E402
from zoo.errors import ZooError  # noqa: E402
from zoo.imaging import read_image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _check_out(out: Path) -> str:
    """The figure's format, from ``out``'s suffix; ``out`` refused before any drawing when it
    could not be written."""
    check_output_file(out, "--out")
    formats = FigureCanvasBase.get_supported_filetypes()
    fmt = out.suffix.lower().removeprefix(".")
    if fmt not in formats:
        what = f"{out.suffix!r} files" if out.suffix else "a file without a suffix"
        raise ZooError(f"--out {out}: matplotlib cannot write {what}; end it in one of "
                       f".{', .'.join(sorted(formats))}")
    return fmt


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--leaderboard", type=Path, default=ROOT / "leaderboard" / "sample")
    p.add_argument("--image", default="chelsea")
    p.add_argument("--protocol", default="rgb")
    p.add_argument("--quality", type=jpeg_quality, default=10)
    p.add_argument("--models", nargs="+", default=["unet-l1", "arnet-nogan", "gan"])
    p.add_argument("--out", type=Path, default=None, help="default: LEADERBOARD/before_after.png")
    args = p.parse_args(argv)
    out = args.out or args.leaderboard / "before_after.png"
    fmt = _check_out(out)

    crops = args.leaderboard / "crops"
    stem = f"{args.image}_{args.protocol}_q{args.quality}_"
    labels = [f"JPEG q{args.quality}", *args.models, "ground truth"]
    # The crop files are named as zoo.bench.crops writes them: the label with spaces as "_".
    paths = [crops / f"{stem}{label.replace(' ', '_')}.png" for label in labels]
    for path in paths:
        if not path.is_file():
            raise ZooError(f"no crop {path}: run zoo bench with --out {args.leaderboard} first")
    images = [read_image(path).pixels for path in paths]  # a damaged crop: ImageError, one line
    fig, axes = plt.subplots(1, len(labels), figsize=(2.6 * len(labels), 2.9), dpi=100)
    for ax, label, pixels in zip(axes, labels, images):
        ax.imshow(pixels, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(label, loc="left", fontsize=11)
        ax.axis("off")
    fig.tight_layout(pad=0.8)
    atomic_write(out, lambda fh: fig.savefig(fh, format=fmt), mode="wb")
    print(f"wrote {out}")


if __name__ == "__main__":
    from zoo.cli import run_tool

    raise SystemExit(run_tool(main))
