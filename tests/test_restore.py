"""The Python restore API: every input kind comes back as the same kind, grey as luma."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms
from torch import nn

import zoo
from zoo.models.base import Restorer
from zoo.restore import restore_file, restore_image, restore_tensor

RNG = np.random.default_rng(0)
LUMA = np.array([0.299, 0.587, 0.114])


class ColourNet(Restorer):
    """A small conv net that changes colours differently per channel (so luma handling shows)."""

    pad_multiple = 4

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, 8, 4, stride=4), nn.ReLU(),
                                  nn.ConvTranspose2d(8, 3, 4, stride=4))

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return (x + 0.5 * self.body(x)).clamp(0, 1)


@pytest.fixture(scope="module")
def net() -> Restorer:
    return ColourNet().eval()


@pytest.fixture(scope="module")
def identity() -> Restorer:
    return zoo.create_model("jpeg").eval()


def pixels(h: int = 36, w: int = 52) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_identity_round_trip_is_exact(identity: Restorer) -> None:
    rgb = pixels()
    np.testing.assert_array_equal(restore_image(identity, rgb), rgb)
    np.testing.assert_array_equal(restore_image(identity, rgb[..., 0]), rgb[..., 0])


def test_inputs_are_not_modified(identity: Restorer, net: Restorer) -> None:
    # Up to half a grey level above 1 on purpose (tolerated): the output is clamped, x is not.
    x = torch.rand(3, 20, 24) * (1 + 0.5 / 255)
    before = x.clone()
    for model in (identity, net):
        assert restore_image(model, x).max() <= 1
        restore_image(model, x, tile=8)
        torch.testing.assert_close(x, before, atol=0, rtol=0)


def test_numpy_kinds(net: Restorer) -> None:
    rgb = pixels()
    out = restore_image(net, rgb)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - rgb).mean() > 1  # the network did something

    rgba = np.dstack([rgb, RNG.integers(0, 256, rgb.shape[:2], dtype=np.uint8)])
    out4 = restore_image(net, rgba)
    assert out4.shape == rgba.shape
    np.testing.assert_array_equal(out4[..., 3], rgba[..., 3])
    np.testing.assert_array_equal(out4[..., :3], out)

    grey = rgb[..., 1]
    assert restore_image(net, grey).shape == grey.shape
    assert restore_image(net, grey[..., None]).shape == (*grey.shape, 1)


def test_grey_is_the_luma_of_the_rgb_output(net: Restorer) -> None:
    grey = pixels()[..., 0]
    rgb_out = restore_image(net, torch.from_numpy(np.repeat(grey[None], 3, 0)).float() / 255)
    expected = np.round((rgb_out.numpy().transpose(1, 2, 0) @ LUMA) * 255)
    out = restore_image(net, grey)
    assert np.abs(out.astype(int) - expected).max() <= 1  # float32 against float64 rounding
    assert np.abs(out.astype(int) - grey).mean() > 1


def test_tensor_kinds(net: Restorer) -> None:
    x = torch.rand(3, 30, 41)
    out = restore_image(net, x)
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    batch = torch.rand(2, 3, 30, 41, dtype=torch.float64)
    out_b = restore_image(net, batch)
    assert out_b.shape == batch.shape and out_b.dtype == torch.float64
    # Each batch item is restored on its own: the same as one at a time.
    torch.testing.assert_close(out_b[1], restore_image(net, batch[1]), atol=1e-5, rtol=0)
    assert restore_image(net, torch.rand(1, 30, 41)).shape == (1, 30, 41)


def test_pil_kinds(net: Restorer) -> None:
    rgb = pixels()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    img = Image.fromarray(rgb)
    img.info["icc_profile"] = icc
    out = net.restore(img)
    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == img.size
    assert out.info["icc_profile"] == icc
    np.testing.assert_array_equal(np.asarray(out), restore_image(net, rgb))

    assert net.restore(img.convert("L")).mode == "L"
    rgba = img.convert("RGBA")
    rgba.putalpha(Image.fromarray(rgb[..., 2]))
    out_rgba = net.restore(rgba)
    assert out_rgba.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(out_rgba)[..., 3], rgb[..., 2])
    assert net.restore(img.convert("LA")).mode == "LA"
    assert net.restore(img.convert("P")).mode == "RGB"


def test_tiled_and_untiled_agree_through_the_api(net: Restorer) -> None:
    rgb = pixels(150, 170)
    whole = restore_image(net, rgb, tile=0).astype(int)
    tiled = restore_image(net, rgb, tile=64).astype(int)
    assert np.abs(whole - tiled).max() <= 1
    assert np.abs(whole - tiled).mean() < 1e-3 * 255


def test_training_flag_and_device(net: Restorer) -> None:
    model = ColourNet().train()
    restore_image(model, pixels(), device="cpu")
    assert model.training  # restored after running in eval mode
    assert next(model.parameters()).device.type == "cpu"


def test_wrong_kinds_are_refused(net: Restorer) -> None:
    with pytest.raises(TypeError):
        restore_image(net, pixels().astype(np.float32))
    with pytest.raises(TypeError):
        restore_image(net, torch.zeros(3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError):
        restore_image(net, torch.rand(2, 16, 16, 2))
    with pytest.raises(TypeError):
        restore_image(net, [[1, 2], [3, 4]])


@pytest.mark.parametrize("bad,message", [(255.0, "divide 0..255 data by 255"), (-0.1, "from -0.1"),
                                         (float("nan"), "NaN")])
def test_float_values_outside_the_unit_range_are_refused(net: Restorer, bad: float,
                                                         message: str) -> None:
    x = torch.rand(3, 16, 16)
    x[0, 3, 4] = bad
    with pytest.raises(ValueError, match=message):
        restore_image(net, x)


def test_cmyk_pil_image_does_not_carry_its_cmyk_profile(net: Restorer) -> None:
    cmyk = Image.fromarray(pixels()).convert("CMYK")
    cmyk.info["icc_profile"] = b"not a usable profile"  # refused: the plain conversion is used
    out = net.restore(cmyk)
    assert out.mode == "RGB" and "icc_profile" not in out.info


def test_restore_file_carries_metadata(tmp_path: Path, net: Restorer) -> None:
    exif = Image.Exif()
    exif[0x010E] = "kept"
    src = Image.fromarray(np.dstack([pixels(), np.full((36, 52), 200, np.uint8)]), "RGBA")
    src.save(tmp_path / "in.png", exif=exif.tobytes())
    out = restore_file(net, tmp_path / "in.png", tmp_path / "out.png")
    with Image.open(out) as written:
        assert written.mode == "RGBA" and written.getexif()[0x010E] == "kept"
        assert (np.asarray(written)[..., 3] == 200).all()


@pytest.mark.skipif("unet-l1" not in zoo.list_models(), reason="unet-l1 not registered")
def test_registered_unet_restores_every_kind() -> None:
    model = zoo.create_model("unet-l1").eval()
    rgb = pixels(33, 45)
    assert restore_image(model, rgb).shape == rgb.shape
    assert restore_image(model, rgb[..., 0]).shape == rgb.shape[:2]
    assert restore_image(model, torch.rand(1, 3, 33, 45)).shape == (1, 3, 33, 45)


def test_unusable_device_is_one_line_zoo_error() -> None:
    from zoo.errors import ZooError

    with pytest.raises(ZooError, match="device 'gpu0'"):
        zoo.load("jpeg", device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ZooError, match="no CUDA device is available"):
            zoo.load("jpeg", device="cuda")


def test_tensor_results_are_ordinary_tensors(identity: Restorer, net: Restorer) -> None:
    """Not inference tensors: callers may edit them in place and use them under autograd."""
    for model in (identity, net):
        for tile in (0, 8):
            out = restore_image(model, torch.rand(3, 20, 24), tile=tile)
            out.mul_(0.5)
            (torch.nn.Conv2d(3, 1, 3)(out[None]) ** 2).sum().backward()
            with torch.inference_mode():  # a caller's inference mode too
                made_inside = restore_image(model, torch.rand(3, 20, 24), tile=tile)
                grey = restore_image(model, torch.rand(2, 1, 20, 24), tile=tile)
            assert not made_inside.is_inference() and not grey.is_inference()
            made_inside.add_(0)


def test_tensors_without_values_are_refused_in_one_line(net: Restorer) -> None:
    """A meta or sparse tensor failed inside torch (aminmax, .item() on meta tensors)."""
    for tensor, kind in ((torch.rand(3, 32, 32, device="meta"), "meta"),
                         (torch.rand(3, 32, 32).to_sparse(), "torch.sparse_coo")):
        with pytest.raises(TypeError, match=f"^expected a dense tensor with values, got a {kind} "
                                            "tensor; use x.to_dense"):
            restore_image(net, tensor)


@pytest.mark.parametrize(("batch", "what"), [
    (torch.zeros(1, 3, 16, 16, dtype=torch.uint8), "torch.uint8 of shape (1, 3, 16, 16)"),
    (torch.rand(1, 4, 16, 16), "torch.float32 of shape (1, 4, 16, 16)"),
    (torch.rand(1, 1, 16, 16), "torch.float32 of shape (1, 1, 16, 16)")])
@pytest.mark.parametrize("name", ["unet-l1", "arnet-nogan"])
def test_a_direct_call_refuses_what_is_not_an_rgb_float_batch(batch: torch.Tensor, what: str,
                                                              name: str) -> None:
    """arnet-nogan(uint8 batch) returned a near-white image (its normalisation made it float);
    unet-l1 failed in torch's words (bias types, channel counts)."""
    model = zoo.create_model(name)
    with pytest.raises(ValueError, match=f"^{name}\\(x\\) takes a \\(B, 3, H, W\\) float tensor in "
                                         f"\\[0, 1\\], got {re.escape(what)}; {name}.restore"):
        model(batch)
    empty = torch.rand(0, 3, 16, 16)
    assert model(empty).shape == (0, 3, 16, 16) and model(empty) is not empty  # a new empty batch


def test_restore_file_refuses_a_folder_as_its_output(tmp_path: Path, identity: Restorer) -> None:
    """It wrote FOLDER.png beside the folder (`zoo restore -o FOLDER/` is refused)."""
    source = tmp_path / "in.png"
    Image.fromarray(pixels()).save(source)
    (tmp_path / "results").mkdir()
    for out in (tmp_path / "results", f"{tmp_path / 'results'}/", f"{tmp_path / 'new'}/"):
        with pytest.raises(zoo.ImageError, match=r": names a folder, not a file; name the result "
                                                 r"file \(FOLDER/NAME.png\)$"):
            restore_file(identity, source, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "results"]


@pytest.mark.parametrize("name", ["jpeg", "unet-l1", "arnet-nogan"])
def test_array_results_are_c_contiguous(name: str) -> None:
    out = restore_image(zoo.create_model(name).eval(), pixels(16, 24))
    assert out.flags.c_contiguous
    Image.frombuffer("RGB", (24, 16), out)  # needs a C-contiguous buffer


@pytest.mark.parametrize("device,message", [
    ("meta", "models run on cpu, cuda, mps, not meta"), ("xpu", "not xpu"),
    ("gpu", "not a torch device"), (True, "not a device"), ("mps", "no MPS"),
    ("cuda:7", "CUDA"), (0, "CUDA")])
def test_restore_refuses_an_unusable_device_and_keeps_the_model(net: Restorer, device: object,
                                                                message: str) -> None:
    from zoo.errors import ZooError

    if torch.cuda.device_count() > 7 or (device == "mps" and torch.backends.mps.is_available()):
        pytest.skip("that device is here")
    if device == 0 and torch.cuda.is_available():
        pytest.skip("cuda:0 is here")
    with pytest.raises(ZooError, match=message):
        restore_image(net, pixels(16, 16), device=device)
    with pytest.raises(ZooError, match=message):
        zoo.load("jpeg", device=device)
    assert restore_image(net, pixels(16, 16)).shape == (16, 16, 3)  # still usable, on the CPU


@pytest.mark.parametrize("image", [np.zeros((3, 3, 3), np.uint8), np.zeros((0, 64, 3), np.uint8),
                                   np.zeros((7, 64), np.uint8), torch.zeros(3, 0, 0),
                                   torch.zeros(2, 3, 64, 5), Image.new("RGB", (3, 3))],
                         ids=["array-3x3", "array-empty", "grey-7-high", "tensor-empty",
                              "batch-5-wide", "pil-3x3"])
def test_every_kind_below_8x8_is_refused_alike(identity: Restorer, net: Restorer, image: object) -> None:
    from zoo.errors import ImageError

    for model in (identity, net):
        with pytest.raises(ImageError, match="smaller than the minimum of 8x8"):
            restore_image(model, image)


@pytest.mark.parametrize("tile,error", [("64", TypeError), (2.5, TypeError), (True, TypeError),
                                        (-1, ValueError)])
def test_bad_tile_values_name_the_argument(net: Restorer, tile: object, error: type) -> None:
    with pytest.raises(error, match="tile must be"):
        restore_image(net, pixels(16, 16), tile=tile)
    assert restore_image(net, pixels(16, 16), tile=np.int64(8)).shape == (16, 16, 3)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_identity_is_exact_for_half_precision_tensors(identity: Restorer, dtype: torch.dtype) -> None:
    """Tiles are blended and grey is taken at float32, then cast back: no grey level is lost."""
    x = torch.rand(3, 70, 90).to(dtype)
    torch.testing.assert_close(restore_image(identity, x, tile=32), x, atol=0, rtol=0)
    grey = torch.rand(1, 40, 50).to(dtype)
    torch.testing.assert_close(restore_image(identity, grey), grey, atol=0, rtol=0)


def test_inf_is_not_mistaken_for_0_to_255_data(net: Restorer) -> None:
    x = torch.linspace(0.25, 0.75, 3 * 16 * 16).reshape(3, 16, 16)  # fixed: rand's least value
    x[0, 0, 0] = float("inf")                      # could print as 9.1e-05, off the pattern
    with pytest.raises(ValueError, match=r"got finite values from 0\.25\d* to 0\.75 and 1 NaN or "
                                         r"infinite value$"):
        restore_image(net, x)


@pytest.mark.parametrize("tile", [None, 0, 16])
@pytest.mark.parametrize("channels", [1, 3])
def test_an_empty_batch_comes_back_empty(tile: int | None, channels: int) -> None:
    """(0, 3, H, W) worked on arnet-nogan, was a channel-count error on unet-l1 and
    'torch.cat(): expected a non-empty list' when tiled."""
    model = zoo.create_model("unet-l1").eval()
    x = torch.rand(0, channels, 40, 40)
    out = restore_image(model, x, tile=tile)
    assert out.shape == x.shape and out.dtype == x.dtype


def test_nan_is_counted_and_the_range_is_that_of_the_finite_values(net: Restorer) -> None:
    """One NaN made the message "values from nan to nan" for data in [0, 1]."""
    x = torch.full((3, 16, 16), 0.5)
    x[0, 0, :3] = float("nan")
    with pytest.raises(ValueError) as exc:
        restore_image(net, x)
    assert str(exc.value) == ("expected float values in [0, 1], got finite values from 0.5 to 0.5 "
                              "and 3 NaN or infinite values")
    x[1:] = 200.0  # 0..255 data with a NaN: the hint still applies
    with pytest.raises(ValueError, match="from 0.5 to 200 and 3 NaN .*; divide 0..255 data by 255$"):
        restore_image(net, x)
    with pytest.raises(ValueError, match="got no finite value, 12 NaN or infinite values$"):
        restore_image(net, torch.full((3, 2, 2), float("nan")))


def test_premultiplied_and_keyed_transparency_become_alpha(identity: Restorer) -> None:
    la = Image.fromarray(np.dstack([pixels()[..., 0], np.full((36, 52), 128, np.uint8)]), "LA")
    assert identity.restore(la.convert("La")).mode == "LA"
    for mode, key, out_mode in (("L", 0, "LA"), ("RGB", (1, 2, 3), "RGBA")):
        img = Image.new(mode, (16, 12), 9 if mode == "L" else (9, 9, 9))
        img.putpixel((0, 0), key)
        img.info["transparency"] = key
        out = identity.restore(img)
        assert out.mode == out_mode
        assert out.getpixel((0, 0))[-1] == 0 and out.getpixel((1, 1))[-1] == 255
        unused = img.copy()
        unused.info["transparency"] = 200 if mode == "L" else (200, 201, 202)  # no pixel has it
        assert identity.restore(unused).mode == mode  # no alpha: JPEG or BMP output stays possible


def test_pytorch_pickles_get_a_safetensors_hint(tmp_path: Path) -> None:
    from zoo.errors import WeightsError, ZooError

    checkpoint = tmp_path / "w.pt"
    torch.save({"a": torch.zeros(2)}, checkpoint)
    with pytest.raises(WeightsError, match="PyTorch pickle .* safetensors only"):
        zoo.load("unet-l1", weights=str(checkpoint))
    with pytest.raises(WeightsError, match=r"PyTorch pickle .* safetensors only .*save_file\(.*\), "
                                           r"then load it into its registry entry: zoo.load\(NAME, "
                                           r"weights='model.safetensors'\)$"):
        zoo.load(str(checkpoint))  # the conversion line docs/restore.md promises, at once
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ZooError, match="weights=PATH"):
        zoo.load(str(tmp_path / "notes.txt"))


def test_arguments_of_another_kind_are_named() -> None:
    """weights=123 and precision=["bf16"] failed in Path() and a set lookup's words."""
    with pytest.raises(TypeError, match=r"^weights is a path to a .safetensors file \(str or path "
                                        r"object\), not int$"):
        zoo.load("unet-l1", weights=123)  # type: ignore[arg-type]
    with pytest.raises(zoo.ZooError, match=r"^unknown precision \['bf16'\]; choose one of fp32, "
                                           r"bf16, fp16$"):
        zoo.load("jpeg", precision=["bf16"])  # type: ignore[arg-type]


def test_restore_file_refuses_its_input_as_output_and_unknown_suffixes_first(tmp_path: Path) -> None:
    from zoo.errors import ImageError

    model = zoo.load("jpeg")
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(tmp_path / "pic.png")
    before = (tmp_path / "pic.png").read_bytes()
    for output in (tmp_path / "pic.png", tmp_path / "pic", tmp_path / "." / "pic.png"):
        with pytest.raises(ImageError, match=r"pic.png: the output would overwrite the input; "):
            restore_file(model, tmp_path / "pic.png", output)
    assert (tmp_path / "pic.png").read_bytes() == before
    with pytest.raises(ImageError, match=r"q.xyz: cannot write '.xyz' files"):  # before reading
        restore_file(model, tmp_path / "missing.jpg", tmp_path / "q.xyz")


def test_restore_file_refuses_what_the_output_format_cannot_hold_before_the_model_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """RGBA to .jpg was refused only after the model had run on the image."""
    import zoo.restore
    from zoo.errors import ImageError

    Image.fromarray(np.full((16, 16, 4), 90, np.uint8)).save(tmp_path / "alpha.png")
    ran: list[object] = []
    monkeypatch.setattr(zoo.restore, "restore_loaded", lambda *a, **k: ran.append(a))
    with pytest.raises(ImageError, match="out.jpg: JPEG files cannot keep the alpha channel"):
        restore_file(zoo.load("jpeg"), tmp_path / "alpha.png", tmp_path / "out.jpg")
    assert not ran and not (tmp_path / "out.jpg").exists()
    (tmp_path / "taken.png").mkdir()  # a folder where the result goes
    with pytest.raises(IsADirectoryError) as exc:
        restore_file(zoo.load("jpeg"), tmp_path / "alpha.png", tmp_path / "taken.png")
    assert str(exc.value) == f"[Errno 21] Is a directory: '{tmp_path / 'taken.png'}'"  # named
    assert not ran


def test_a_damaged_file_opened_with_pil_is_an_image_error_naming_it(tmp_path: Path) -> None:
    """model.restore(Image.open(truncated)) raised a bare OSError naming no file."""
    from zoo.errors import ImageError

    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)).save(
        tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with Image.open(tmp_path / "cut.jpg") as image, pytest.raises(ImageError) as exc:
        zoo.load("jpeg").restore(image)
    assert str(exc.value).startswith(f"{tmp_path / 'cut.jpg'}: corrupt or unreadable image (OSError: ")


def test_networks_run_in_fp32_not_tf32() -> None:
    """On a GPU, cuDNN convolutions default to TF32; "fp32" (the default precision, the speed
    tables' label) must be fp32 there too."""
    from zoo.fp32 import fp32_settings

    seen = []

    class Recorder(ColourNet):
        def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(set(fp32_settings().values()) <= {"ieee", False})
            return super().forward_padded(x)

    before = fp32_settings()
    restore_image(Recorder(), RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    assert seen == [True] and fp32_settings() == before


class _Recording(ColourNet):
    """ColourNet that records the batch and side of every forward, and runs out of memory above
    ``limit`` pixels of side."""

    def __init__(self, limit: int = 10**9) -> None:
        super().__init__()
        self.limit, self.calls = limit, []

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((x.shape[0], max(x.shape[-2:])))
        if max(x.shape[-2:]) > self.limit:  # as torch's CPU allocator fails (not OutOfMemoryError)
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: "
                               "can't allocate memory: you tried to allocate 9663676416 bytes.")
        return super().forward_padded(x)


def test_a_batch_runs_no_more_untiled_pixels_at_once_than_one_image_may() -> None:
    """Four 600x600 images (each below the CPU's 1-MP tiling threshold) ran as one 1.4-MP
    forward, so memory grew with the batch; automatic tiling runs two at a time."""
    x = torch.rand(4, 3, 600, 600)
    auto, whole = _Recording(), _Recording()
    out = restore_tensor(auto, x)
    assert auto.calls == [(2, 600), (2, 600)]
    assert torch.equal(out, restore_tensor(whole, x, tile=0)) and whole.calls == [(4, 600)]


def test_running_out_of_memory_is_retried_in_smaller_tiles_when_tiling_is_automatic() -> None:
    x = torch.rand(1, 3, 600, 600)
    net = _Recording(limit=300)
    with pytest.warns(UserWarning) as seen:
        out = restore_tensor(net, x)
    assert [str(w.message) for w in seen] == [
        "out of cpu memory for a 600x600 image whole: trying 512-px tiles",
        "out of cpu memory for a 600x600 image in 512-px tiles: trying 256-px tiles"]
    assert torch.equal(out, restore_tensor(_Recording(), x, tile=256))
    with pytest.raises(RuntimeError, match="allocate"):  # a tile the caller chose is kept
        restore_tensor(_Recording(limit=300), x, tile=512)
    with pytest.raises(RuntimeError, match="allocate"), pytest.warns(UserWarning):  # not below 128
        restore_tensor(_Recording(limit=100), x)

    class Broken(ColourNet):
        def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("a bug, not memory")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no retry for an error that is not about memory
        with pytest.raises(RuntimeError, match="a bug"):
            restore_tensor(Broken(), x)


def test_automatic_tiling_counts_the_pixels_the_network_runs() -> None:
    """A strip 8 px high runs at 32 px in a network padding to 32: four times its pixels."""
    from zoo.tiling import auto_tile, auto_tile_for

    net = ColourNet()
    net.pad_multiple = 32
    assert auto_tile(8, 131072, "cpu") is None
    assert auto_tile_for(net, 8, 131072, "cpu") == 512
    assert auto_tile_for(net, 512, 512, "cpu") is None


def test_the_benchmark_never_takes_a_row_from_an_out_of_memory_retry() -> None:
    """A bench row's setup names the automatic rule; a retry in smaller tiles would give values of
    another setup under it, so the bench fails the image instead (reported, measured next run)."""
    from zoo.bench.runner import restore as bench_restore

    image = RNG.integers(0, 256, (600, 600, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeError, match="allocate"):
            bench_restore(_Recording(limit=300), image)
    assert bench_restore(_Recording(), image).shape == image.shape


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_turned_file_is_restored_where_its_jpeg_blocks_lie(
        net: Restorer, tmp_path: Path, orientation: int) -> None:
    """A JPEG whose EXIF turns it is restored as stored, then turned upright: the network sees
    the block grid from the corner the encoder started at. Restoring the upright pixels put the
    grid elsewhere whenever a side is not a multiple of 16 (``unet-l1`` lost 1-2 dB of its gain)."""
    from zoo.orientation import upright

    exif = Image.Exif()
    exif[0x0112] = orientation
    source = tmp_path / "turned.jpg"
    Image.fromarray(pixels(37, 53)).save(source, quality=30, exif=exif.tobytes())
    stored = np.asarray(Image.open(source).convert("RGB"))  # Pillow does not turn a JPEG it opens
    restore_file(net, source, tmp_path / "out.png")
    expected = upright(restore_image(net, stored), orientation)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), expected)
    # A PIL image comes back in the layout Pillow opened it in, its tag kept: exif_transpose
    # (README's example) gives the file's result exactly.
    from PIL import ImageOps

    restored = restore_image(net, Image.open(source))
    assert restored.size == Image.open(source).size and restored.getexif().get(0x0112) == orientation
    assert np.array_equal(np.asarray(ImageOps.exif_transpose(restored)), expected)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientations_turn_as_pillow_does_and_back(orientation: int) -> None:
    from PIL import ImageOps

    from zoo.orientation import as_stored, upright

    stored = pixels(5, 7)
    exif = Image.Exif()
    exif[0x0112] = orientation
    image = Image.fromarray(stored)
    image.info["exif"] = exif.tobytes()
    image.getexif()[0x0112] = orientation
    assert np.array_equal(upright(stored, orientation), np.asarray(ImageOps.exif_transpose(image)))
    assert np.array_equal(as_stored(upright(stored, orientation), orientation), stored)


@pytest.mark.parametrize("opt_in", ["tf32_new_api", "matmul_medium"])
def test_a_callers_precision_settings_are_kept_and_restored_around(opt_in: str,
                                                                    identity: Restorer) -> None:
    """torch's newer fp32_precision API: a caller who set it to TF32 made every restore fail
    ("mix of the legacy and new APIs"), and set_float32_matmul_precision("medium") (bf16 matrix
    products on a CPU too) was broken by one restore (the legacy flag saved and put back)."""
    from zoo.fp32 import fp32_settings

    if not hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        pytest.skip("torch before the fp32_precision API")
    before = fp32_settings()
    try:
        if opt_in == "tf32_new_api":
            torch.backends.cuda.matmul.fp32_precision = "tf32"
        else:
            torch.set_float32_matmul_precision("medium")
        asked = fp32_settings()
        identity.restore(torch.rand(3, 8, 8))
        assert fp32_settings() == asked
        if opt_in == "matmul_medium":
            assert torch.get_float32_matmul_precision() == "medium"
    finally:
        for path, value in before.items():
            obj = torch.backends
            for part in path.split("."):
                obj = getattr(obj, part)
            obj.fp32_precision = value


def test_exact_fp32_puts_settings_back_when_the_last_thread_leaves() -> None:
    """Two restores in threads: the first to leave put the caller's TF32 back while the other
    still ran (its "fp32" was then TF32 on a GPU), and the last left the first's values."""
    import threading

    from zoo.fp32 import exact_fp32, fp32_settings

    before, inside = fp32_settings(), []
    first_in, second_done = threading.Event(), threading.Event()

    def first() -> None:
        with exact_fp32():
            first_in.set()
            second_done.wait(5)
            inside.append(set(fp32_settings().values()) <= {"ieee", False})

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with exact_fp32():
        inside.append(set(fp32_settings().values()) <= {"ieee", False})
    second_done.set()
    thread.join()
    assert inside == [True, True] and fp32_settings() == before


def test_a_path_object_with_weights_loads() -> None:
    """zoo.load(Path("unet-l1"), weights=...) was an AttributeError ('startswith')."""
    from pathlib import Path as P

    from zoo.pretrained import shipped_weights_path
    from zoo.registry import get_model_info

    shipped = shipped_weights_path(get_model_info("unet-l1"))
    assert zoo.load(P("unet-l1"), weights=str(shipped)).name == "unet-l1"


def test_a_tensor_of_other_channels_is_told_what_is_taken(identity: Restorer) -> None:
    """The message named (3, H, W) only, though one channel (grey) is taken too."""
    with pytest.raises(ValueError, match=r"^expected a \(C, H, W\) or \(B, C, H, W\) tensor with "
                                         r"C = 3 \(RGB\) or 1 \(grey\), got \(2, 8, 8\)$"):
        identity.restore(torch.rand(2, 8, 8))


class ConstantNet(Restorer):
    """Every pixel of every channel set to one value, whatever the input."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, self.value)


@pytest.mark.parametrize("value,level", [(0.6, 153), (100.6 / 255, 101), (100.4 / 255, 100)],
                         ids=["153", "100.6", "100.4"])
def test_uint8_results_are_rounded_to_the_nearest_level(value: float, level: int) -> None:
    """0.6 is level 153; 100.6 rounds up to 101 (truncating would give 100), 100.4 down."""
    out = restore_image(ConstantNet(value), pixels())
    assert out.shape == (36, 52, 3) and (out == level).all()


def test_a_grey_tensor_is_the_bt601_luma_of_the_rgb_restore(net: Restorer) -> None:
    """restore_tensor weights the channels 0.299, 0.587, 0.114; their plain mean differs."""
    grey = torch.rand(1, 30, 41)
    rgb_out = restore_tensor(net, grey.expand(3, -1, -1))
    weights = torch.tensor(LUMA, dtype=torch.float32).view(3, 1, 1)
    expected = (rgb_out * weights).sum(0, keepdim=True)
    assert (expected - rgb_out.mean(0, keepdim=True)).abs().max() > 1e-2  # the weights matter here
    torch.testing.assert_close(restore_tensor(net, grey), expected, atol=1e-6, rtol=0)


def test_a_pil_image_keeps_its_exif_and_resolution(net: Restorer) -> None:
    exif = Image.Exif()
    exif[0x010E] = "x"
    img = Image.fromarray(pixels())
    img.info.update(exif=exif.tobytes(), dpi=(300, 150), xmp=b"<x:xmpmeta>rights</x:xmpmeta>")
    out = net.restore(img)
    assert out.info["exif"] == exif.tobytes() and out.info["dpi"] == (300, 150)
    assert out.getexif()[0x010E] == "x" and out.info["xmp"] == b"<x:xmpmeta>rights</x:xmpmeta>"


def test_float_input_may_stray_one_grey_level_outside_the_unit_range(identity: Restorer) -> None:
    """RANGE_TOLERANCE is 1/255: 0.9 of a level past either end is taken, 2 levels are not."""
    for inside, outside in ((1 + 0.9 / 255, 1 + 2 / 255), (-0.9 / 255, -2 / 255)):
        x = torch.full((3, 16, 16), 0.5)
        x[0, 0, 0] = inside
        assert restore_tensor(identity, x).shape == x.shape
        x[0, 0, 0] = outside
        with pytest.raises(ValueError, match=r"expected float values in \[0, 1\]"):
            restore_tensor(identity, x)


def test_restore_file_warns_of_a_jpeg_above_the_qualities_the_model_was_trained_on(
        tmp_path: Path) -> None:
    from zoo.quality_warning import QualityWarning, trained_qualities

    model = zoo.load("arnet-nogan", device="cpu")
    assert trained_qualities(model) == (5, 40)  # training/arnet-nogan.toml's data.quality
    for quality in (40, 90):
        Image.fromarray(pixels()).save(tmp_path / f"q{quality}.jpg", quality=quality)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        restore_file(model, tmp_path / "q40.jpg", tmp_path / "q40.png")
        restore_file(model, tmp_path / "q90.jpg", tmp_path / "q90.png")
        restore_file(zoo.load("jpeg"), tmp_path / "q90.jpg", tmp_path / "id.png")  # no recipe
    assert [w.category for w in caught] == [QualityWarning]
    assert str(caught[0].message).startswith(
        f"{tmp_path / 'q90.jpg'}: JPEG quality 90, above the 5-40 arnet-nogan was trained on; "
        "restoring it may lose detail (measured in ")
    assert (tmp_path / "q90.png").is_file()  # warned, never refused


def test_restoring_a_pil_jpeg_above_the_trained_qualities_warns_at_the_callers_line(
        tmp_path: Path) -> None:
    from zoo.restore import QualityWarning

    model = zoo.load("unet-l1", device="cpu")
    Image.fromarray(pixels()).save(tmp_path / "q90.jpg", quality=90)
    Image.fromarray(pixels()).save(tmp_path / "q30.jpg", quality=30)
    in_memory = io.BytesIO()
    Image.fromarray(pixels()).save(in_memory, "JPEG", quality=80)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.restore(Image.open(tmp_path / "q90.jpg"))
        restore_image(model, Image.open(in_memory))
        model.restore(Image.open(tmp_path / "q30.jpg"))  # inside the range
        model.restore(Image.open(tmp_path / "q90.jpg").convert("RGB"))  # no longer a JPEG
    assert [(w.category, Path(w.filename).name) for w in caught] == [
        (QualityWarning, "test_restore.py")] * 2  # the user's line, through one call or two
    assert str(caught[0].message).startswith(f"{tmp_path / 'q90.jpg'}: JPEG quality 90, above the "
                                             "5-40 unet-l1 was trained on")
    assert str(caught[1].message).startswith("the PIL image: JPEG quality 80, above the 5-40")


def test_a_file_name_or_an_unbatched_tensor_says_what_to_call_instead() -> None:
    model = zoo.load("unet-l1", device="cpu")
    with pytest.raises(TypeError, match=r"cannot restore a str; .* \(for image files: "
                                        r"zoo.restore.restore_file\(model, IN, OUT\)\)$"):
        model.restore("photo.jpg")
    with pytest.raises(ValueError, match=r"^unet-l1\(x\) takes a \(B, 3, H, W\) float tensor, got "
                                         r"shape \(3, 16, 16\); add the batch dimension"):
        model(torch.rand(3, 16, 16))


def test_models_of_unknown_training_are_not_said_to_know_it(tmp_path: Path) -> None:
    from zoo.hub import save_pretrained
    from zoo.pretrained import shipped_weights_path
    from zoo.registry import get_model_info
    from zoo.quality_warning import trained_qualities

    shipped = zoo.load("unet-l1", device="cpu")
    save_pretrained(shipped, tmp_path / "saved")
    assert trained_qualities(zoo.load(str(tmp_path / "saved"))) is None  # no recipe recorded
    own = zoo.load("unet-l1", weights=str(shipped_weights_path(get_model_info("unet-l1"))))
    assert trained_qualities(own) is None  # weights by path: trained on anything
    assert trained_qualities(zoo.load("unet-l1+x8")) == (5, 40)


def test_a_zoo_train_export_knows_the_qualities_it_was_trained_on(tmp_path: Path) -> None:
    """An export records them in training.json (settings.data.quality), yet restoring a q95 JPEG
    with it gave no warning, the docs saying a saved folder records no range."""
    from zoo.hub import save_pretrained
    from zoo.quality_warning import QualityWarning, trained_qualities

    export = save_pretrained(zoo.load("unet-l1", device="cpu"), tmp_path / "export",
                             training={"entry": "unet-l1", "settings": {"data": {"quality": [10, 10]}}})
    model = zoo.load(str(export))
    assert trained_qualities(model) == (10, 10)
    assert trained_qualities(zoo.load(str(export / "model.safetensors"))) == (10, 10)
    Image.fromarray(pixels(64, 64)).save(tmp_path / "hq.jpg", quality=95)
    with pytest.warns(QualityWarning, match=r"JPEG quality 95.*above the 10-10 unet-l1 was trained on"):
        restore_file(model, tmp_path / "hq.jpg", tmp_path / "out.png")
    odd = save_pretrained(zoo.load("unet-l1", device="cpu"), tmp_path / "odd",
                          training={"settings": {"data": {"quality": "high"}}})
    assert trained_qualities(zoo.load(str(odd))) is None  # a record without a range: no guess


def test_threads_sharing_one_model_get_what_serial_calls_get() -> None:
    from concurrent.futures import ThreadPoolExecutor

    model = zoo.load("unet-l1", device="cpu")
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (40 + 8 * i, 48, 3), dtype=np.uint8) for i in range(6)]
    serial = [model.restore(image) for image in images]
    with ThreadPoolExecutor(3) as pool:
        threaded = list(pool.map(model.restore, images))
    assert all(np.array_equal(a, b) for a, b in zip(serial, threaded))
