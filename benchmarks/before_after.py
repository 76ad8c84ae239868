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

    prefix = args.leaderboard / "crops" / f"{args.image}_{args.protocol}_q{args.quality}_"
    panels = [(f"JPEG q{args.quality}", f"JPEG_q{args.quality}"), *((m, m) for m in args.models),
              ("ground truth", "ground_truth")]
    missing = [str(prefix) + f"{stem}.png" for _, stem in panels
               if not Path(str(prefix) + f"{stem}.png").is_file()]
    if missing:
        raise SystemExit(f"no crop {missing[0]}: run zoo bench with --out {args.leaderboard} first")
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.9), dpi=100)
    for ax, (label, stem) in zip(axes, panels):
        ax.imshow(np.asarray(Image.open(str(prefix) + f"{stem}.png")), cmap="gray", vmin=0, vmax=255,
                  interpolation="nearest")
        ax.set_title(label, loc="left", fontsize=11)
        ax.axis("off")
    fig.tight_layout(pad=0.8)
    out = args.out or args.leaderboard / "before_after.png"
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
