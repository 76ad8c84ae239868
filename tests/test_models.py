"""Every registry entry's network, the shared layers, and the patch critic (random init only)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import zoo
from zoo.errors import ZooError
from zoo.models.arnet import ARNet
from zoo.models.base import Restorer, pad_to_multiple
from zoo.models.critic import PatchCritic
from zoo.models.layers import PixelShuffleICNR, SelfAttention
from zoo.models.unet import UNet
from zoo.registry import architecture_class, get_model_info, list_models
from zoo.weights import load_weights, save_weights

MODELS = list_models()
ODD_SHAPES = [(1, 3, 37, 53), (2, 3, 64, 48)]


def _perturbed(model: Restorer, seed: int = 0) -> Restorer:
    """Give the zero-initialised parameters (residual heads, attention gates) random values,
    so the model is no longer the identity and outputs say something about the weights."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            if param.numel() and not param.any():
                param.copy_(torch.randn(param.shape, generator=gen) * 0.2)
    return model.eval()


def _build(name: str) -> Restorer:
    torch.manual_seed(0)
    return zoo.create_model(name).eval()


def odd_images() -> dict[tuple[int, ...], torch.Tensor]:
    """The inputs of the per-entry tests below (the docs' example entry takes them too)."""
    gen = torch.Generator().manual_seed(1)
    return {shape: torch.rand(shape, generator=gen) for shape in ODD_SHAPES}


@pytest.fixture(scope="module")
def images() -> dict[tuple[int, ...], torch.Tensor]:
    return odd_images()


@pytest.mark.parametrize("name", MODELS)
def test_forward_on_odd_sizes_keeps_shape_and_range(name: str, images) -> None:
    model = _perturbed(_build(name))
    with torch.inference_mode():
        for shape, x in images.items():
            y = model(x)
            assert y.shape == x.shape and y.dtype == torch.float32
            assert torch.isfinite(y).all() and y.min() >= 0.0 and y.max() <= 1.0


@pytest.mark.parametrize("name", MODELS)
def test_pad_and_crop_matches_explicit_padding(name: str, images) -> None:
    model = _perturbed(_build(name))
    x = images[(1, 3, 37, 53)]
    assert get_model_info(name).inputs.pad_multiple == model.pad_multiple, \
        "the entry's InputConventions.pad_multiple must equal the network's pad_multiple"
    padded, (h, w) = pad_to_multiple(x, model.pad_multiple)
    assert padded.shape[-2] % model.pad_multiple == 0 and padded.shape[-1] % model.pad_multiple == 0
    with torch.inference_mode():
        torch.testing.assert_close(model(x), model.forward_padded(padded)[..., :h, :w])


@pytest.mark.parametrize("name", MODELS)
def test_batch_items_are_independent(name: str, images) -> None:
    model = _perturbed(_build(name))
    x = images[(2, 3, 64, 48)]
    with torch.inference_mode():
        torch.testing.assert_close(model(x)[1:], model(x[1:]), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", MODELS)
def test_untrained_model_is_the_identity(name: str, images) -> None:
    # A zoo convention: residual branches start at zero, so training starts from the JPEG.
    model = _build(name)
    x = images[(2, 3, 64, 48)]
    with torch.inference_mode():
        gap = (model(x) - x).abs().max().item()
        assert gap < 1e-6, (f"{name} untrained changes its input by up to {gap:.3g}: start its "
                            "last layer at zero (a residual output), so that training starts "
                            "from the JPEG, not from noise")


@pytest.mark.parametrize("name", MODELS)
def test_perturbed_model_is_not_the_identity(name: str, images) -> None:
    model = _build(name)
    if model.num_parameters() == 0:
        pytest.skip("no parameters (the identity by definition)")
    x = images[(2, 3, 64, 48)]
    with torch.inference_mode():
        assert (_perturbed(model)(x) - x).abs().mean() > 1e-3


@pytest.mark.parametrize("name", MODELS)
def test_save_and_strict_load_round_trip(name: str, images, tmp_path: Path) -> None:
    model = _perturbed(_build(name), seed=3)
    path = tmp_path / "model.safetensors"
    save_weights(model, path, dtype=torch.float32)
    torch.manual_seed(123)  # a differently initialised twin
    twin = zoo.create_model(name).eval()
    load_weights(twin, path)
    own, loaded = model.state_dict(), twin.state_dict()
    assert own.keys() == loaded.keys()
    for key in own:
        assert torch.equal(own[key], loaded[key]), key
    x = images[(1, 3, 37, 53)]
    with torch.inference_mode():
        torch.testing.assert_close(twin(x), model(x))


@pytest.mark.parametrize("name", MODELS)
def test_rebuild_from_config_json(name: str) -> None:
    model = _build(name)
    config = json.loads(json.dumps(model.config))  # what config.json holds
    rebuilt = architecture_class(get_model_info(name).architecture)(**config)
    assert rebuilt.config == config
    own, other = model.state_dict(), rebuilt.state_dict()
    assert own.keys() == other.keys()
    assert all(own[k].shape == other[k].shape for k in own)


class _TinyCNN(Restorer):
    """A new model as the README's "Adding a model" has a researcher write it: a plain
    ``super().__init__()`` that passes none of its arguments on."""

    def __init__(self, width: int = 16, layers: int = 3) -> None:
        super().__init__()
        self.convs = torch.nn.Sequential(
            *(torch.nn.Conv2d(3 if i == 0 else width, width, 3, padding=1) for i in range(layers)))
        self.head = torch.nn.Conv2d(width, 3, 1)

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.head(self.convs(x))


def test_config_holds_arguments_a_constructor_did_not_pass_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """config was {} here: config.json then said "arguments": {} and loading it failed with a
    size mismatch that did not point at the cause."""
    import zoo.registry
    from zoo.hub import load_pretrained, save_pretrained

    monkeypatch.setitem(zoo.registry._ARCHITECTURES, "_TinyCNN", _TinyCNN)
    model = _TinyCNN(8, layers=2)
    assert model.config == {"width": 8, "layers": 2}
    assert _TinyCNN().config == {"width": 16, "layers": 3}
    rebuilt = load_pretrained(save_pretrained(model, tmp_path / "tiny", dtype=torch.float32))
    assert type(rebuilt) is _TinyCNN and rebuilt.config == model.config
    own, other = model.state_dict(), rebuilt.state_dict()
    assert {k: v.shape for k, v in own.items()} == {k: v.shape for k, v in other.items()}


def test_config_holds_the_outermost_constructors_arguments() -> None:
    """A subclass of a model is rebuilt (config.json, ``grown``) by its own constructor."""

    class WideUNet(UNet):
        def __init__(self, width: int = 8, depth: int = 2) -> None:
            super().__init__(channels=[width * 2 ** i for i in range(depth)], blocks=[1] * depth)

    model = WideUNet(width=4)
    assert model.config == {"width": 4, "depth": 2}
    assert type(model)(**model.config).state_dict().keys() == model.state_dict().keys()
    assert UNet(channels=(8, 16), blocks=(1, 1)).config == {"channels": [8, 16], "blocks": [1, 1]}


def test_config_holds_the_arguments_as_passed() -> None:
    """A constructor changing a list it was given (or its default) leaves config as passed, so
    that config.json rebuilds the same model; so does the caller changing it afterwards."""

    class Appending(Restorer):
        def __init__(self, sizes: list[int] = [1, 2]) -> None:  # noqa: B006  (the case tested)
            super().__init__()
            sizes.append(3)
            self.sizes = sizes

    first = Appending()
    assert first.config == {"sizes": [1, 2]} and first.sizes == [1, 2, 3]
    assert Appending().config == {"sizes": [1, 2, 3]}  # Python's shared default, as it came
    assert Appending(**first.config).sizes == [1, 2, 3]
    given = [5]
    model = Appending(given)
    given.append(6)
    assert model.config == {"sizes": [5]}
    assert Appending(**model.config).sizes == [5, 3]


class _Returning(Restorer):
    """A model whose ``forward_padded`` returns ``self.result(x)``."""

    def __init__(self) -> None:
        super().__init__()
        self.result = lambda x: x


@pytest.mark.parametrize(("result", "said"), [
    (lambda x: x[..., 1:-1, 1:-1], "a tensor of shape (1, 3, 77, 101)"),  # a valid-padding conv
    (lambda x: (x, x), "a tuple"),
    (lambda x: x[:, :1], "a tensor of shape (1, 1, 79, 103)"),
    (lambda x: x[0], "a tensor of shape (3, 79, 103)"),
])
def test_forward_refuses_an_output_of_another_shape_in_one_line(result, said: str) -> None:
    """A smaller output was cropped and written as a smaller image without a word; a tuple was
    "tuple indices must be integers or slices, not tuple"."""
    from zoo.models.base import ModelContractError

    model = _Returning()
    model.result = result
    model.forward_padded = lambda x: model.result(x)  # type: ignore[method-assign]
    with pytest.raises(ModelContractError) as err:
        model(torch.rand(1, 3, 79, 103))
    assert str(err.value) == (f"_Returning: forward_padded returned {said} for an input of shape "
                              "(1, 3, 79, 103); it must return a tensor of its input's shape")
    assert isinstance(err.value, ZooError) and isinstance(err.value, RuntimeError)
    model.result = lambda x: x * 2 - 0.5  # values outside [0, 1] are the callers' to clamp
    assert model(torch.rand(1, 3, 5, 7)).shape == (1, 3, 5, 7)


def _halved(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(F.avg_pool2d(x, 2), scale_factor=2)


@pytest.mark.parametrize(("result", "torch_said"), [
    (lambda x: x + _halved(x), "The size of tensor a (31) must match the size of tensor b (30) at "
                               "non-singleton dimension 3"),
    (lambda x: torch.cat([x, _halved(x)], 1)[:, :3], "Sizes of tensors must match except in "
                                                     "dimension 1. Expected size 25 but got size 24 "
                                                     "for tensor number 1 in the list"),
    (lambda x: nn.PixelShuffle(2)(nn.PixelUnshuffle(2)(x)), "pixel_unshuffle expects height to be "
                                                            "divisible by downscale_factor, but "
                                                            "input.size(-2)=25 is not divisible by 2"),
])
def test_sides_a_downsampling_network_cannot_take_name_pad_multiple(result, torch_said: str) -> None:
    """A network that halves its input without ``pad_multiple`` failed on odd sides in torch's
    words alone, which did not say that the zoo pads for it when asked to."""
    from zoo.models.base import ModelContractError

    model = _Returning()
    model.result = result
    model.forward_padded = lambda x: model.result(x)  # type: ignore[method-assign]
    assert model(torch.rand(1, 3, 24, 30)).shape == (1, 3, 24, 30)
    with pytest.raises(ModelContractError) as err:
        model(torch.rand(1, 3, 25, 31))
    assert str(err.value) == (f"_Returning: {torch_said}; its input was 25x31 (sides padded to a "
                              "multiple of pad_multiple = 1): if the network needs sides divisible "
                              "by N, set pad_multiple = N on its class (docs/models.md)")
    model.pad_multiple = 2
    assert model(torch.rand(1, 3, 25, 31)).shape == (1, 3, 25, 31)


def test_other_runtime_errors_of_a_network_are_left_as_they_are() -> None:
    """A channel mismatch or running out of memory is not about the sides: no pad_multiple hint."""
    model = _Returning()
    model.forward_padded = lambda x: x + x[:, :2]  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match=r"at non-singleton dimension 1$"):
        model(torch.rand(1, 3, 25, 31))

    def out_of_memory(x: torch.Tensor) -> torch.Tensor:
        raise torch.OutOfMemoryError("Sizes of tensors must match except in dimension 1")
    model.forward_padded = out_of_memory  # type: ignore[method-assign]
    with pytest.raises(torch.OutOfMemoryError, match=r"dimension 1$"):
        model(torch.rand(1, 3, 25, 31))


def test_a_constructor_that_does_not_call_super_init_is_one_line_naming_the_class() -> None:
    """nn.Module's own "cannot assign module before Module.__init__() call" said not what to do;
    without a layer assigned, the model broke later, at its first use."""

    class Layered(Restorer):
        def __init__(self, width: int = 4) -> None:
            self.conv = torch.nn.Conv2d(3, width, 3)

    class Bare(Restorer):
        def __init__(self, gain: float = 1.0) -> None:
            self.gain = gain

    for cls in (Layered, Bare):
        with pytest.raises(ZooError, match=f"^{cls.__name__}.__init__ does not call "
                                           r"super\(\).__init__\(\): call it first, before "):
            cls()


def test_a_restorer_that_config_json_could_not_rebuild_is_refused() -> None:
    with pytest.raises(TypeError, match=r"^Starred.__init__ takes \*\*options: a Restorer names "):
        class Starred(Restorer):
            def __init__(self, width: int = 8, **options: int) -> None:
                super().__init__()
    with pytest.raises(TypeError, match=r"^Starred.__init__ takes \*shape: a Restorer names "):
        class Starred(Restorer):  # noqa: F811
            def __init__(self, *shape: int) -> None:
                super().__init__()
    with pytest.raises(TypeError, match=r"^Starred.__init__ takes \*args: a Restorer names "):
        class Starred(Restorer):  # noqa: F811  (self among the *args)
            def __init__(*args: int) -> None:
                Restorer.__init__(args[0])
    with pytest.raises(TypeError, match=r"^Positional.__init__ takes width positional-only: a "):
        class Positional(Restorer):  # Positional(**config) could not pass width
            def __init__(self, width: int = 8, /, depth: int = 2) -> None:
                super().__init__()

    class SelfOnly(Restorer):  # self alone before the slash names nothing config needs
        def __init__(self, /, width: int = 8) -> None:
            super().__init__()

    assert SelfOnly(width=3).config == {"width": 3}

    class Extra(Restorer):
        def __init__(self, width: int = 8) -> None:
            super().__init__(width=width, depth=2)

    with pytest.raises(TypeError, match="^Extra keeps depth in config, which its constructor does "
                                        "not take"):
        Extra()


@pytest.mark.parametrize("name", [n for n in MODELS if get_model_info(n).trainable])
def test_trainable_entries_get_gradients(name: str) -> None:
    model = _perturbed(_build(name)).train()
    x = torch.rand(2, 3, 64, 64)
    F.l1_loss(model(x), torch.rand_like(x)).backward()
    with_grad = [p for p in model.parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert len(with_grad) > 0.9 * len(list(model.parameters()))


def test_a_unet_with_negative_blocks_is_refused() -> None:
    """blocks=[1, 1, -1] trained and exported a network without a bottom level (a training
    auditor's): refused, in the one line zoo train turns it into."""
    from zoo.models.unet import UNet

    with pytest.raises(ValueError, match=r"^UNet: blocks must be 0 or more, got \[1, 1, -1\]$"):
        UNet(blocks=[1, 1, -1])


def test_grown_unet_computes_what_the_smaller_one_did_and_then_trains(images) -> None:
    torch.manual_seed(0)
    small = _perturbed(UNet(blocks=(1, 1, 2)))
    grown = small.grown((2, 2, 4)).eval()
    assert grown.config["blocks"] == [2, 2, 4] and len(grown.bottom) == 4
    with torch.inference_mode():
        for x in images.values():
            assert torch.equal(grown(x), small(x))
    # The new blocks are not dead: their zeroed second conv gets a gradient.
    x = torch.rand(2, 3, 32, 32)
    F.l1_loss(grown.train()(x), torch.rand_like(x)).backward()
    assert grown.bottom[3].conv2.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="can only grow"):
        small.grown((1, 1, 1))


def test_grown_arnet_computes_what_the_smaller_one_did_and_then_trains(images) -> None:
    torch.manual_seed(0)
    small = _perturbed(ARNet(nf=16))
    grown = small.grown(last_blocks=3).eval()
    assert grown.config["last_blocks"] == 3 and len(grown.refine) == 2
    with torch.inference_mode():
        for x in images.values():
            assert torch.equal(grown(x), small(x))
    # The new blocks are not dead: their zeroed last batch norm gets a gradient.
    x = torch.rand(2, 3, 32, 32)
    F.l1_loss(grown.train()(x), torch.rand_like(x)).backward()
    assert grown.refine[1].body[-1][-1].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="can only grow"):
        grown.grown(last_blocks=2)


def test_arnet_and_gan_share_one_architecture() -> None:
    nogan, gan = get_model_info("arnet-nogan"), get_model_info("gan")
    assert nogan.architecture == gan.architecture == "ARNet"
    assert dict(nogan.arch_args) == dict(gan.arch_args)
    assert (nogan.recipe, gan.recipe) == ("arnet-nogan", "gan")


def test_arnet_config_leaves_out_the_init_choice() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ARNet(nf=16, encoder_pretrained=False)
    assert "encoder_pretrained" not in model.config and model.config["nf"] == 16


def test_arnet_pretrained_encoder_offline_falls_back_at_once(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import timm

    def no_downloads(*args, **kwargs):
        assert not kwargs.get("pretrained"), "must not try the Hub when HF_HUB_OFFLINE=1"
        return real_create(*args, **kwargs)

    real_create = timm.create_model
    monkeypatch.setattr(timm, "create_model", no_downloads)
    with pytest.warns(UserWarning, match="HF_HUB_OFFLINE"):
        model = ARNet(nf=16, encoder_pretrained=True).eval()
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_arnet_pretrained_encoder_unreachable_hub_falls_back(monkeypatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    import timm

    def hub_down(*args, **kwargs):
        if kwargs.get("pretrained"):
            raise OSError("connection refused")
        return real_create(*args, **kwargs)

    real_create = timm.create_model
    monkeypatch.setattr(timm, "create_model", hub_down)
    with pytest.warns(UserWarning, match="connection refused"):
        ARNet(nf=16, encoder_pretrained=True)


def test_arnet_unknown_encoder_is_a_user_error() -> None:
    with pytest.raises(ZooError, match="not-a-net"):
        ARNet(encoder="not-a-net")


def test_icnr_upsampler_starts_as_nearest_neighbour() -> None:
    torch.manual_seed(0)
    up = PixelShuffleICNR(8, 4, blur=False)
    y = up(torch.rand(1, 8, 5, 7))
    assert y.shape == (1, 4, 10, 14)
    torch.testing.assert_close(y, F.interpolate(y[..., ::2, ::2], scale_factor=2, mode="nearest"))
    assert up.conv(torch.rand(1, 8, 5, 7)).std() > 0  # not degenerate


def test_blurred_upsampler_keeps_size() -> None:
    assert PixelShuffleICNR(8, 4)(torch.rand(2, 8, 5, 7)).shape == (2, 4, 10, 14)


def test_the_blur_replicates_the_top_left_edge_then_averages_2x2() -> None:
    """Padded by one on the top and left, a 2x2 [[a, b], [c, d]] averages to [[a, (a+b)/2],
    [(a+c)/2, (a+b+c+d)/4]]: each output pixel is the mean of itself and its upper-left
    neighbours."""
    up = PixelShuffleICNR(1, 1)
    up.conv = torch.nn.Identity()  # the shuffle gets the input as it is: channels a, b, c, d
    out = up(torch.tensor([1.0, 2.0, 4.0, 8.0]).view(1, 4, 1, 1))
    torch.testing.assert_close(out, torch.tensor([[[[1.0, 1.5], [2.5, 3.75]]]]))


def test_padding_reflects_the_bottom_rows_and_right_columns() -> None:
    x = torch.arange(30.0).view(1, 1, 5, 6)
    padded, size = pad_to_multiple(x, 8)
    assert padded.shape == (1, 1, 8, 8) and size == (5, 6)
    assert torch.equal(padded[..., 5:, :6], x[..., [3, 2, 1], :])
    assert torch.equal(padded[..., :5, 6:], x[..., :, [4, 3]])


def test_self_attention_matches_naive_softmax_attention() -> None:
    torch.manual_seed(0)
    attn = SelfAttention(32).eval()
    with torch.no_grad():
        attn.gamma.fill_(1.0)
    x = torch.randn(2, 32, 6, 5)
    flat = x.flatten(2)
    q, k, v = attn.query(flat), attn.key(flat), attn.value(flat)  # (B, C', N)
    weights = torch.softmax(q.transpose(1, 2) @ k / q.shape[1] ** 0.5, dim=-1)  # (B, N, N)
    expected = x + (v @ weights.transpose(1, 2)).view_as(x)
    torch.testing.assert_close(attn(x), expected, atol=1e-5, rtol=1e-4)


def test_self_attention_starts_closed() -> None:
    x = torch.randn(1, 16, 4, 4)
    assert torch.equal(SelfAttention(16)(x), x)


def test_patch_critic_outputs_logit_map() -> None:
    critic = PatchCritic()
    out = critic(torch.rand(2, 3, 64, 48))
    assert out.shape == (2, 1, 64 // critic.downscale, 48 // critic.downscale) == (2, 1, 8, 6)
    out.mean().backward()
    assert all(p.grad is not None for p in critic.parameters())
    names = [n for n, _ in critic.named_parameters()]
    assert sum("parametrizations.weight.original" in n for n in names) == 4  # spectral norm on all


def test_patch_critic_rebuilds_from_config() -> None:
    critic = PatchCritic(nf=16, n_layers=2)
    rebuilt = PatchCritic(**json.loads(json.dumps(critic.config)))
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == \
        {k: v.shape for k, v in critic.state_dict().items()}
    assert rebuilt(torch.rand(1, 3, 32, 32)).shape == (1, 1, 8, 8)


def test_calling_a_model_on_an_array_says_to_use_restore() -> None:
    import numpy as np

    model = zoo.create_model("unet-l1")
    with pytest.raises(TypeError, match=r"^unet-l1\(x\) takes a \(B, 3, H, W\) float tensor, not "
                                        r"ndarray; use unet-l1\.restore\(image\)"):
        model(np.zeros((16, 16, 3), dtype=np.uint8))
