"""LEADERBOARD.md's tables: ranking, the best value in bold, headers."""

from __future__ import annotations

import math
from typing import Any

import pytest

from zoo.bench.leaderboard import best_models, metric_header, ranked, render_markdown


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


def test_a_first_metric_no_row_has_leaves_the_ranking_to_the_next() -> None:
    """MS-SSIM undefined on every image (all under 161 px): the table is ranked by PSNR, not
    listed by name."""
    entries = [_entry("a", ms_ssim=math.nan, psnr=20.0), _entry("b", ms_ssim=math.nan, psnr=40.0),
               _entry("c", ms_ssim=math.nan, psnr=math.nan), _entry("d", ms_ssim=math.nan, psnr=30.0)]
    assert [e["model"] for e in ranked(entries, ("ms_ssim", "psnr"))] == ["b", "d", "a", "c"]


def test_lower_is_better_metrics_pick_rank_and_mark_the_lowest() -> None:
    """LPIPS and BRISQUE: the lowest is best, ranks first and has ↓; a mean ties with the best
    at the digits shown (PSNR 30.001 and 30.004 both read 30.00, both bold)."""
    entries = [_entry("a", images=5, lpips_alex=0.2, brisque=30.0, psnr=30.004),
               _entry("b", images=4, lpips_alex=0.1, brisque=40.0, psnr=30.001)]
    assert best_models(entries, "lpips_alex") == {"b"} and best_models(entries, "brisque") == {"a"}
    assert best_models(entries, "psnr") == {"a", "b"}
    metrics = ("lpips_alex", "brisque", "psnr")
    assert [e["model"] for e in ranked(entries, metrics)] == ["b", "a"]
    assert metric_header("brisque") == "BRISQUE ↓" and metric_header("psnr") == "PSNR (dB) ↑"
    text = render_markdown("toy", entries, metrics, [], {})
    assert "Means over 5 images of `toy`" in text  # the most any row covers
    assert "| `b` | **0.1000** | 40.00 | **30.00** |" in text
    assert "| `a` | 0.2000 | **30.00** | **30.00** |" in text


def test_the_legend_says_what_the_order_protocols_and_ensembles_are() -> None:
    """A reader took the PSNR order for an overall ranking, and met `y`, `+x8` and the seconds
    of two pages without a word on what they are; PSNR had no unit."""
    rgb = [_entry("jpeg", psnr=27.0, lpips_alex=0.2), _entry("unet-l1", psnr=29.0, lpips_alex=0.25)]
    text = render_markdown("toy", rgb, ("psnr", "lpips_alex"), [], {})
    assert "| model | PSNR (dB) ↑ | LPIPS (alex) ↓ |" in text
    assert "Rows are ranked by PSNR alone, not by an overall score." in text
    assert "Protocols: `rgb`: the colour image is compressed, restored and scored in colour " in text
    assert "`y`" not in text and "+x8" not in text  # only what the page shows
    assert "compare them within a table, not across pages" in text
    both = rgb + [{**_entry("unet-l1+x8", psnr=29.1), "protocol": "y"}]
    text = render_markdown("toy", both, ("lpips_alex", "psnr"), [], {})
    assert "ranked by LPIPS (alex) alone" in text
    assert ("`rgb`: the colour image is compressed, restored and scored in colour; `y`: the "
            "literature's grey protocol: the image's BT.601 luma (16-235) is compressed as a grey "
            "JPEG, restored and scored (docs/bench.md).") in text
    assert "`NAME+x8`: the model's geometric self-ensemble" in text
    assert "ranked by" not in render_markdown("toy", rgb, ("psnr",), [], {})  # one column: no need


def test_the_page_names_the_command_of_its_run() -> None:
    meta = {"command": "zoo bench --data sample --out `x`", "rows": 2, "measured_now": 2}
    text = render_markdown("toy", [_entry("jpeg", psnr=27.0)], ("psnr",), [], meta)
    assert "Its command: `` zoo bench --data sample --out `x` ``." in text.splitlines()[2]
    assert "Its command" not in render_markdown("toy", [_entry("jpeg", psnr=27.0)], ("psnr",), [], {})
