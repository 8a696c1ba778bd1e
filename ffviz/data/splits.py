"""`DataSplits`, the value every loader returns, and the tensor helpers the loaders share.

All loaders end the same way: whole uint8 image arrays are turned into float32, resized, given the requested
number of channels and normalised in a few large vectorised steps (chunked to bound peak memory), never image
by image in Python.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from ffviz.lazy import lazy_import

torch = lazy_import("torch")  # imported when splits are made, not when the registry is (a server never does)
F = lazy_import("torch.nn.functional")

# Images converted per step in `images_to_float`: large enough to be vectorised, small enough that the float
# intermediate of a 100k-image set (Tiny-ImageNet) never exists twice in memory.
_CHUNK = 8192


@dataclass(frozen=True)
class DataSplits:
    """Train / validation / test tensors of one dataset, ready for a trainer.

    Images are float32 ``(N, C, H, W)``, already normalised with ``mean``/``std``; labels are int64 ``(N,)`` in
    ``[0, num_classes)``. The tensors may be shared with the in-process cache of `load_dataset`: treat them as
    read-only (copy before any in-place change). ``augment`` tells the trainer to apply
    `ffviz.method.augment.augment_batch` (random crop with 4-pixel padding + horizontal flip) to each training batch.
    """

    name: str
    train_x: torch.Tensor  # (N_train, C, H, W) float32
    train_y: torch.Tensor  # (N_train,) int64
    val_x: torch.Tensor  # (N_val, C, H, W) float32
    val_y: torch.Tensor  # (N_val,) int64
    test_x: torch.Tensor  # (N_test, C, H, W) float32
    test_y: torch.Tensor  # (N_test,) int64
    num_classes: int
    class_names: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, subtracted from the [0, 1] pixel values
    std: tuple[float, ...]  # per channel, divided after the subtraction
    augment: bool = False

    def __post_init__(self) -> None:
        # Cheap consistency checks: a loader bug should fail here, not as a shape error deep inside training.
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if x.dim() != 4 or y.dim() != 1 or x.shape[0] != y.shape[0]:
                raise ValueError(f"{split}_x must be (N, C, H, W) and {split}_y (N,) with the same N; got "
                                 f"{tuple(x.shape)} and {tuple(y.shape)}")
            if x.shape[1:] != self.train_x.shape[1:]:
                raise ValueError(f"{split}_x has image shape {tuple(x.shape[1:])}, train_x has "
                                 f"{tuple(self.train_x.shape[1:])}")
        if len(self.class_names) != self.num_classes:
            raise ValueError(f"class_names has {len(self.class_names)} entries for num_classes={self.num_classes}")
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise ValueError(f"mean/std need one value per channel ({self.in_channels})")

    @property
    def in_channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train_x.shape[-1])

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> DataSplits:
        """A copy whose six tensors live on ``device`` (the original is left untouched)."""
        moved = {f: getattr(self, f).to(device, non_blocking=non_blocking)
                 for f in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")}
        return dataclasses.replace(self, **moved)

    def __repr__(self) -> str:  # the default repr would print six tensors
        return (f"DataSplits(name={self.name!r}, train={len(self.train_y)}, val={len(self.val_y)}, "
                f"test={len(self.test_y)}, shape={tuple(self.train_x.shape[1:])}, "
                f"num_classes={self.num_classes}, augment={self.augment})")


def images_to_float(images: torch.Tensor, *, image_size: int, channels: int, mean: Sequence[float],
                    std: Sequence[float], scale: float = 255.0) -> torch.Tensor:
    """Whole-array conversion: ``(N, C0, H, W)`` integer (or float) images -> float32 ``(N, channels, S, S)``.

    Pixels are divided by ``scale`` (to [0, 1]), resized bilinearly to ``image_size`` (antialiased when
    shrinking, so a downscale does not alias), repeated from 1 to 3 channels if asked, then normalised with the
    per-output-channel ``mean``/``std``.
    """
    n, c0, h, w = images.shape
    if channels not in (c0, 3) or (channels != c0 and c0 != 1):
        raise ValueError(f"cannot turn {c0}-channel images into channels={channels}")
    out = torch.empty((n, channels, image_size, image_size), dtype=torch.float32)
    # (x / scale - mean) / std folded into one multiply and one subtract per channel: (1, C, 1, 1) each.
    std_t = torch.tensor(std, dtype=torch.float64).view(1, -1, 1, 1)
    mul = (1.0 / (scale * std_t)).to(torch.float32)
    sub = (torch.tensor(mean, dtype=torch.float64).view(1, -1, 1, 1) / std_t).to(torch.float32)
    for start in range(0, n, _CHUNK):
        x = images[start:start + _CHUNK]  # (n_chunk, C0, H, W), raw pixel values
        if (h, w) != (image_size, image_size):
            # Bilinear resizing is linear, so it can run before the scaling.
            x = F.interpolate(x.to(torch.float32), size=(image_size, image_size), mode="bilinear",
                              align_corners=False, antialias=image_size < min(h, w))
        dst = out[start:start + _CHUNK]
        dst.copy_(x.expand(-1, channels, -1, -1))  # converts dtype and repeats 1 -> 3 channels in one pass
        dst.mul_(mul).sub_(sub)  # while the chunk is still in cache
    return out


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of ``x`` ``(N, C, H, W)``, computed in float64 for accuracy."""
    x64 = x.to(torch.float64)
    mean = x64.mean(dim=(0, 2, 3))
    std = x64.std(dim=(0, 2, 3), unbiased=False).clamp_min(1e-12)  # a constant channel must not divide by 0
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def random_split(n: int, n_val: int, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded split of ``range(n)`` into (train, val) index tensors, each sorted to keep the source order."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def stratified_split(labels: torch.Tensor, per_class_val: Sequence[int], *,
                     seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded split taking ``per_class_val[k]`` validation samples from each class ``k``; sorted index tensors."""
    g = torch.Generator().manual_seed(seed)
    val_parts = []
    for k, n_val in enumerate(per_class_val):  # one step per class, not per image
        idx = torch.nonzero(labels == k).flatten()
        val_parts.append(idx[torch.randperm(len(idx), generator=g)[:n_val]])
    val = torch.cat(val_parts) if val_parts else torch.empty(0, dtype=torch.int64)
    is_val = torch.zeros(len(labels), dtype=torch.bool)
    is_val[val] = True
    return torch.nonzero(~is_val).flatten(), val.sort().values


def val_count(n_train_total: int, *, fraction: float) -> int:
    """Validation-set size carved from ``n_train_total`` images: ``round(fraction * n)``, but at least 1 and
    leaving at least 1 for training (so tiny test fixtures still give three non-empty splits)."""
    if n_train_total < 2:
        raise ValueError(f"need at least 2 training images to carve a validation split, got {n_train_total}")
    return min(max(1, round(fraction * n_train_total)), n_train_total - 1)
