"""LEADERBOARD.md's tables: ranking, the best value in bold, headers."""

from __future__ import annotations

import math
from typing import Any

from zoo.bench.leaderboard import ranked


def _entry(model: str, images: int = 4, **means: float) -> dict[str, Any]:
    """A summary entry of one model (rgb protocol, q10) with the given means."""
    return {"dataset": "toy", "model": model, "quality": 10, "protocol": "rgb", "images": images,
            "seconds": 0.1, "partial": {}, **means}


def test_rows_without_the_first_metric_rank_after_the_others_by_name() -> None:
    """A model whose SSIM (the table's first metric) is undefined was ranked on its PSNR
    (-40 before -0.8) and came out on top."""
    entries = [_entry("d", ssim=math.nan, psnr=20.0), _entry("c", ssim=math.nan, psnr=40.0),
               _entry("b", ssim=0.7, psnr=31.0), _entry("a", ssim=0.8, psnr=30.0),
               _entry("e", psnr=50.0)]  # SSIM not measured at all
    assert [e["model"] for e in ranked(entries, ("ssim", "psnr"))] == ["a", "b", "c", "d", "e"]
