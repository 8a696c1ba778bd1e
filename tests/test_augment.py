"""Tests of the batch augmentations in ffviz.method.augment (CPU; a CUDA check runs only where a GPU exists)."""

from __future__ import annotations

import pytest
import torch

from ffviz.method.augment import augment_batch, random_crop, random_flip


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(n: int = 16, c: int = 3, size: int = 16, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(n, c, size, size, generator=_gen(123)).to(dtype)


@pytest.mark.parametrize("fn", [random_crop, random_flip, augment_batch])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_shape_and_dtype_preserved(fn, dtype):
    x = _batch(dtype=dtype)
    y = fn(x, generator=_gen())
    assert y.shape == x.shape and y.dtype == dtype
    assert torch.equal(x, _batch(dtype=dtype))  # input untouched


@pytest.mark.parametrize("fn", [random_crop, random_flip, augment_batch])
def test_deterministic_with_same_generator(fn):
    x = _batch(n=64)
    assert torch.equal(fn(x, generator=_gen(7)), fn(x, generator=_gen(7)))
    assert not torch.equal(fn(x, generator=_gen(7)), fn(x, generator=_gen(8)))


def test_flip_flips_some_and_keeps_others():
    x = _batch(n=64)
    y = random_flip(x, _gen(1))
    same = (y == x).flatten(1).all(1)
    mirrored = (y == x.flip(-1)).flatten(1).all(1)
    assert torch.all(same | mirrored)
    assert 10 < int(mirrored.sum()) < 54  # about half


def test_zero_padded_crop_shifts_a_dot_by_at_most_pad():
    n, size, pad = 200, 16, 4
    x = torch.zeros(n, 1, size, size)
    x[:, 0, 8, 8] = 1.0
    y = random_crop(x, pad, _gen(2), padding_mode="zeros")
    assert torch.equal(y.sum(dim=(1, 2, 3)), torch.ones(n))  # a dot 4 px from any border never leaves the image
    pos = y[:, 0].flatten(1).argmax(1)
    dy, dx = pos // size - 8, pos % size - 8
    assert dy.abs().max() <= pad and dx.abs().max() <= pad
    assert len(set(zip(dy.tolist(), dx.tolist(), strict=True))) > 30  # offsets really vary per sample (81 possible)


@pytest.mark.parametrize("mode", ["reflect", "zeros"])
def test_crop_is_a_translation_of_the_original(mode):
    x, pad = _batch(n=24, size=12), 4
    y = random_crop(x, pad, _gen(3), padding_mode=mode)
    h = x.shape[-1]
    for i in range(len(x)):  # the centre of every output equals a shifted window of its input
        matches = [(dy, dx) for dy in range(-pad, pad + 1) for dx in range(-pad, pad + 1)
                   if torch.equal(y[i, :, pad:h - pad, pad:h - pad],
                                  x[i, :, pad - dy:h - pad - dy, pad - dx:h - pad - dx])]
        assert matches, f"sample {i} is not a shift of at most {pad} px"


def test_pad_zero_is_identity_and_bad_arguments():
    x = _batch()
    assert torch.equal(random_crop(x, 0, _gen()), x)
    with pytest.raises(ValueError, match="pad"):
        random_crop(x, -1)
    with pytest.raises(ValueError, match="padding_mode"):
        random_crop(x, 4, padding_mode="edge")
    with pytest.raises(ValueError, match="pad"):
        random_crop(torch.zeros(2, 1, 4, 4), 4)  # reflect needs pad < size
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        random_flip(torch.zeros(3, 4, 4))


def test_without_generator_uses_global_rng():
    torch.manual_seed(0)
    a = augment_batch(_batch())
    torch.manual_seed(0)
    assert torch.equal(a, augment_batch(_batch()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_with_cpu_generator():
    x = _batch(n=32)
    cpu = augment_batch(x, _gen(5))
    gpu = augment_batch(x.cuda(), _gen(5))
    assert gpu.is_cuda and torch.equal(gpu.cpu(), cpu)
    g = torch.Generator(device="cuda").manual_seed(5)
    assert augment_batch(x.cuda(), g).shape == x.shape


def test_constant_padding_fills_each_channel_and_keeps_the_image() -> None:
    """A black border on normalised data: channel c's border is fill[c]; what comes from the image is unchanged."""
    x = torch.randn(16, 3, 6, 6, generator=_gen(7))
    fill = [-1.5, 0.25, 2.0]
    y = random_crop(x, 2, _gen(8), padding_mode="constant", fill=fill)
    ref = random_crop(x, 2, _gen(8), padding_mode="zeros")  # same offsets, 0 where the border is
    border = (random_crop(torch.ones_like(x), 2, _gen(8), padding_mode="zeros") == 0)  # (N, C, H, W)
    assert border.any() and (~border).any()
    assert torch.equal(y[~border], ref[~border])
    expected = torch.tensor(fill).view(1, 3, 1, 1).expand_as(y)
    assert torch.equal(y[border], expected[border])
    with pytest.raises(ValueError, match="fill"):
        random_crop(x, 2, padding_mode="constant")
    with pytest.raises(ValueError, match="one value per channel"):
        random_crop(x, 2, padding_mode="constant", fill=[0.0])
