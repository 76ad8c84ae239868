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
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--leaderboard", type=Path, default=ROOT / "leaderboard" / "sample")
    p.add_argument("--image", default="chelsea")
    p.add_argument("--protocol", default="rgb")
    p.add_argument("--quality", type=int, default=10)
    p.add_argument("--models", nargs="+", default=["unet-l1", "arnet-nogan", "gan"])
    p.add_argument("--out", type=Path, default=None, help="default: LEADERBOARD/before_after.png")
    args = p.parse_args()

    crops = args.leaderboard / "crops"
    stem = f"{args.image}_{args.protocol}_q{args.quality}_"
    labels = [f"JPEG q{args.quality}", *args.models, "ground truth"]
    # The crop files are named as zoo.bench.crops writes them: the label with spaces as "_".
    paths = [crops / f"{stem}{label.replace(' ', '_')}.png" for label in labels]
    for path in paths:
        if not path.is_file():
            raise SystemExit(f"no crop {path}: run zoo bench with --out {args.leaderboard} first")
    fig, axes = plt.subplots(1, len(labels), figsize=(2.6 * len(labels), 2.9), dpi=100)
    for ax, label, path in zip(axes, labels, paths):
        ax.imshow(np.asarray(Image.open(path)), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(label, loc="left", fontsize=11)
        ax.axis("off")
    fig.tight_layout(pad=0.8)
    out = args.out or args.leaderboard / "before_after.png"
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
