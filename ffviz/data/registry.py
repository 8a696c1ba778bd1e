"""The dataset registry: names -> `DatasetInfo`, and `load_dataset`, the single entry point of the trainer/app.

Argument checking happens here, once, so each loader receives resolved, valid values. Results are cached
in-process (the most recent load only, keyed on every argument that changes the tensors) so that re-running a
script cell or an app page does not re-read CIFAR; the cached tensors are shared, so callers must not modify them
in place. `clear_cache` drops the cached splits.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ffviz.data import digit_pairs, digits, tiny_imagenet, torchvision_sets
from ffviz.data.download import ProgressFn
from ffviz.data.splits import DataSplits

Loader = Callable[..., DataSplits]
MIN_IMAGE_SIZE = 4
MAX_IMAGE_SIZE = 256


@dataclass(frozen=True)
class DatasetInfo:
    """What the app and the CLI show about a dataset before loading it."""

    name: str
    description: str
    num_classes: int
    channels: int  # native channels
    image_size: int  # default size the images are resized to (``image_size=None``)
    native_size: int  # size of the images on disk
    downloadable: bool  # False: must be put on disk by hand (digits ships with scikit-learn)
    augment: bool  # the trainer applies random crop + flip to training batches
    allowed_channels: tuple[int, ...]
    loader: Loader  # loader(*, root, image_size, channels, seed, download, progress) -> DataSplits
    source: str  # where the data comes from (URL or package)
    images: int  # train + validation + test: what the server's limits count its float32 tensors by


def _digits_loader(*, root: Path, image_size: int, channels: int, seed: int, download: bool,
                   progress: ProgressFn | None) -> DataSplits:
    del root, seed, download  # bundled with scikit-learn, split fixed on purpose (see ffviz.data.digits)
    if progress is not None:
        progress(0, 1)
    splits = digits.load_digits_splits(image_size=image_size, channels=channels)
    if progress is not None:
        progress(1, 1)
    return splits


def _pairs_loader(n_digits: int) -> Loader:
    def load(*, root: Path, image_size: int, channels: int, seed: int, download: bool,
             progress: ProgressFn | None) -> DataSplits:
        del root, seed, download  # made from scikit-learn's digits, pairs fixed on purpose (ffviz.data.digit_pairs)
        if progress is not None:
            progress(0, 1)
        splits = digit_pairs.load_digit_pairs(n_digits=n_digits, image_size=image_size, channels=channels)
        if progress is not None:
            progress(1, 1)
        return splits
    return load


def _pairs_info(n_digits: int) -> DatasetInfo:
    """Digit pairs of the digits 0..n-1: one registry name per number of digits, so a link, a sweep and a config
    name the whole dataset in one word."""
    k = n_digits * n_digits
    tot = digit_pairs.TOTALS
    return DatasetInfo(
        name=f"digit-pairs-{k}", description=f"Two scikit-learn digits (0-{n_digits - 1}) side by side, class "
        f"10*left + right: {k} classes (\"37\" is a 3 then a 7), 16x16; {tot['train'] // k * k:,}/"
        f"{tot['val'] // k * k:,}/{tot['test'] // k * k:,} pairs, each split drawn only from the digits' own split. "
        "Bundled, many classes on a CPU.", num_classes=k, channels=1, image_size=digit_pairs.NATIVE_SIZE,
        native_size=digit_pairs.NATIVE_SIZE, downloadable=False, augment=False, allowed_channels=(1, 3),
        loader=_pairs_loader(n_digits), source="sklearn.datasets.load_digits (pairs: ffviz.data.digit_pairs)",
        images=sum(t // k * k for t in tot.values()))


def _torchvision_loader(name: str) -> Loader:
    def load(*, root: Path, image_size: int, channels: int, seed: int, download: bool,
             progress: ProgressFn | None) -> DataSplits:
        return torchvision_sets.load_torchvision_set(name, root=root, image_size=image_size, channels=channels,
                                                     seed=seed, download=download, progress=progress)
    return load


def _tiny_imagenet_loader(*, root: Path, image_size: int, channels: int, seed: int, download: bool,
                          progress: ProgressFn | None) -> DataSplits:
    del channels, download  # always RGB (checked by load_dataset); never downloaded
    return tiny_imagenet.load_tiny_imagenet(root=root, image_size=image_size, seed=seed, progress=progress)


def _tv_info(name: str, description: str, images: int) -> DatasetInfo:
    spec = torchvision_sets.SPECS[name]
    return DatasetInfo(name=name, description=description, num_classes=spec.num_classes, channels=spec.channels,
                       image_size=32, native_size=spec.native_size, downloadable=True, augment=False,
                       allowed_channels=(1, 3) if spec.channels == 1 else (3,), loader=_torchvision_loader(name),
                       source=spec.url, images=images)


DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        name="digits", description="scikit-learn's 1,797 handwritten 8x8 digits, upsampled; fixed split "
        "1,257/180/360. Bundled, trains in seconds on a CPU.", num_classes=10, channels=1,
        image_size=digits.DEFAULT_IMAGE_SIZE, native_size=8, downloadable=False, augment=False,
        allowed_channels=(1, 3), loader=_digits_loader, source="sklearn.datasets.load_digits", images=1_797),
    "digit-pairs-25": _pairs_info(5),
    "digit-pairs-100": _pairs_info(10),
    "mnist": _tv_info("mnist", "MNIST handwritten digits, 28x28 grey resized to 32; 55,000/5,000/10,000.", 70_000),
    "fashion-mnist": _tv_info("fashion-mnist", "Fashion-MNIST clothing, 28x28 grey resized to 32; "
                              "55,000/5,000/10,000.", 70_000),
    "cifar10": _tv_info("cifar10", "CIFAR-10, 32x32 colour, 10 classes; 49,000/1,000/10,000.", 60_000),
    "cifar100": _tv_info("cifar100", "CIFAR-100, 32x32 colour, 100 fine classes; 49,000/1,000/10,000.", 60_000),
    "tiny-imagenet": DatasetInfo(
        name="tiny-imagenet", description="Tiny-ImageNet-200, 64x64 colour, 200 classes; 90,000/10,000/10,000 "
        "(official val = test). Local folder only; trained with random crop + flip.", num_classes=200, channels=3,
        image_size=tiny_imagenet.NATIVE_SIZE, native_size=tiny_imagenet.NATIVE_SIZE, downloadable=False,
        augment=True, allowed_channels=(3,), loader=_tiny_imagenet_loader, source=tiny_imagenet.URL, images=110_000),
}


def dataset_names() -> list[str]:
    """Registry names in display order (the default, ``digits``, first)."""
    return list(DATASETS)


def resolve_name(name: str) -> str:
    """Registry name for ``name``; case, spaces and ``_`` vs ``-`` are forgiven ("Fashion_MNIST" -> "fashion-mnist")."""
    if not isinstance(name, str):
        raise ValueError(f"name must be a string, one of {', '.join(DATASETS)}; got {name!r}")
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset name={name!r}; valid names: {', '.join(DATASETS)}")
    return key


# The server's say over data (a classroom server runs with both set by the app; the CLI reads them too): the folder
# every run reads its datasets from, whatever its config's data_root, and whether a missing dataset may be downloaded.
DATA_DIR_ENV = "FFVIZ_DATA_DIR"
DOWNLOADS_ENV = "FFVIZ_DOWNLOADS"


def server_data_root() -> str | None:
    """$FFVIZ_DATA_DIR when set: the one data folder of this server; None lets a run's config say (the CLI)."""
    return os.environ.get(DATA_DIR_ENV) or None


def downloads_allowed() -> bool:
    """False when $FFVIZ_DOWNLOADS is 0/false/no/off: missing data is then an error saying where to put it."""
    return os.environ.get(DOWNLOADS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True/False are ints to Python, not to us


_cache_lock = threading.Lock()
_cache: dict[tuple, DataSplits] = {}  # at most one entry: a dataset can be gigabytes


def clear_cache() -> None:
    """Forget the cached splits of the last `load_dataset` call (frees their memory once no one else holds them)."""
    with _cache_lock:
        _cache.clear()


def load_dataset(name: str, *, root: str | os.PathLike[str] = "data", image_size: int | None = None,
                 channels: int | None = None, seed: int = 2222, download: bool = True,
                 progress: Callable[[int, int], None] | None = None) -> DataSplits:
    """Load a registered dataset as normalised float32 train/val/test tensors.

    Args:
        name: one of `dataset_names()`.
        root: folder holding (or receiving) the downloaded files, e.g. ``data/cifar-10-batches-py``.
        image_size: side of the square images produced; ``None`` (or 0) = the dataset's default.
        channels: 1 or 3 for grey datasets (3 repeats the grey channel); colour datasets allow only 3.
            ``None`` (or 0) = the dataset's own.
        seed: seeds the random train/validation split. Ignored by ``digits``, whose split is fixed.
        download: fetch missing torchvision datasets (never Tiny-ImageNet).
        progress: ``progress(done, total)``, called on this thread: bytes while downloading, images while
            decoding Tiny-ImageNet; only the ratio is meant for display.

    Raises:
        ValueError: an argument is invalid (the message names it and the allowed values).
        MissingDataError: the files are absent/corrupt and could not be downloaded; the message says what to
            fetch and the exact folder to put it in.

    The returned tensors may be shared with an in-process cache: do not modify them in place.
    """
    key = resolve_name(name)
    info = DATASETS[key]
    if not isinstance(root, (str, os.PathLike)):
        raise ValueError(f"root must be a path (str or pathlib.Path); got {root!r}")
    size = info.image_size if image_size is None or (image_size == 0 and _is_int(image_size)) else image_size
    if not _is_int(size) or not MIN_IMAGE_SIZE <= size <= MAX_IMAGE_SIZE:
        raise ValueError(f"image_size must be None (dataset default, {info.image_size}) or an int in "
                         f"{MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE}; got {image_size!r}")
    chans = info.channels if channels is None or (channels == 0 and _is_int(channels)) else channels
    if not _is_int(chans) or chans not in info.allowed_channels:
        raise ValueError(f"channels for {key!r} must be None or one of "
                         f"{', '.join(map(str, info.allowed_channels))}; got {channels!r}")
    if not _is_int(seed):
        raise ValueError(f"seed must be an int; got {seed!r}")
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be None or a callable progress(done, total); got {progress!r}")

    root_path = Path(root).expanduser().absolute()
    # Everything that changes the tensors is in the key; the bundled sets ignore root and seed, so one entry serves all.
    cache_key = (key, size, chans) if not info.downloadable and key != "tiny-imagenet" else (
        key, str(root_path), size, chans, seed)
    with _cache_lock:
        hit = _cache.get(cache_key)
    if hit is not None:
        return hit
    splits = info.loader(root=root_path, image_size=size, channels=chans, seed=seed, download=bool(download),
                         progress=progress)
    with _cache_lock:
        _cache.clear()
        _cache[cache_key] = splits
    return splits
