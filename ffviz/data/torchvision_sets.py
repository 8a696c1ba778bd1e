"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 from torchvision's on-disk formats.

Layout under ``root`` (what torchvision's downloaders produce):

* MNIST: ``root/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (Fashion-MNIST: ``root/FashionMNIST/raw``).
  A ``.gz`` next to a missing file is unpacked in place (atomically), as torchvision would.
* CIFAR-10: ``root/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``;
  CIFAR-100: ``root/cifar-100-python/{train, test, meta}`` -- Python pickles of dicts holding ``data``
  (uint8, ``(N, 3072)``, channel-planar 32x32) and ``labels`` / ``fine_labels``. A ``cifar-10-python.tar.gz``
  (or ``cifar-100-python.tar.gz``) left in ``root`` is extracted.

Arrays are read whole: MNIST through torchvision's dataset object (``.data``/``.targets``), CIFAR by reading
the documented pickle batches directly. Why not torchvision's CIFAR class: it insists on the md5 sums of the
official files, which would also reject the small real-format files the tests write; torchvision still does
the download (and verifies the md5 of the archive it downloads).

Splits: the official train set is split at random with ``torch.Generator().manual_seed(seed)`` into train and
validation -- 50,000/10,000 for (Fashion-)MNIST (fraction 1/6, as the authors' code) and 49,000/1,000 for
CIFAR (1/50); smaller
files (tests) get the same fractions, at least one image each. The official test set is the test split.
Normalisation uses the usual published constants (listed in `SPECS`), not statistics of the split, so the
preprocessing does not depend on the seed.
"""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ffviz.data.download import ProgressFn, bytes_under, install_files, run_with_progress, staging_dir
from ffviz.data.errors import MissingDataError
from ffviz.data.splits import DataSplits, images_to_float, random_split, val_count
from ffviz.lazy import lazy_import

torch = lazy_import("torch")  # imported when a dataset is loaded, not when the registry is (a server never does)

_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class TorchvisionSpec:
    """Where a torchvision dataset lives on disk, where it comes from, and how it is normalised."""

    name: str
    tv_class: str  # class in torchvision.datasets that downloads it
    folder: str  # relative to root, the folder holding `files`
    files: tuple[str, ...]
    url: str  # for error messages: where a person fetches it by hand
    archive: str | None  # CIFAR: the tarball torchvision downloads into root (also accepted if placed by hand)
    download_bytes: int  # approximate download size, only the total of the progress bar
    val_fraction: float
    channels: int
    native_size: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...] = ()  # empty: read from the dataset's meta file

    @property
    def is_mnist_like(self) -> bool:
        return self.archive is None


SPECS: dict[str, TorchvisionSpec] = {
    "mnist": TorchvisionSpec(
        name="mnist", tv_class="MNIST", folder="MNIST/raw", files=_MNIST_FILES,
        url="https://ossci-datasets.s3.amazonaws.com/mnist/", archive=None,
        download_bytes=9_912_422 + 28_881 + 1_648_877 + 4_542,
        val_fraction=10_000 / 60_000, channels=1, native_size=28, num_classes=10,
        mean=(0.1307,), std=(0.3081,), class_names=tuple(str(d) for d in range(10))),
    "fashion-mnist": TorchvisionSpec(
        name="fashion-mnist", tv_class="FashionMNIST", folder="FashionMNIST/raw", files=_MNIST_FILES,
        url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", archive=None,
        download_bytes=26_421_880 + 29_515 + 4_422_102 + 5_148,
        val_fraction=10_000 / 60_000, channels=1, native_size=28, num_classes=10,
        mean=(0.2860,), std=(0.3530,),
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                     "Ankle boot")),
    "cifar10": TorchvisionSpec(
        name="cifar10", tv_class="CIFAR10", folder="cifar-10-batches-py",
        files=("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
               "batches.meta"),
        url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", archive="cifar-10-python.tar.gz",
        download_bytes=170_498_071, val_fraction=1_000 / 50_000, channels=3, native_size=32, num_classes=10,
        mean=(0.4914, 0.4822, 0.4465), std=(0.2023, 0.1994, 0.2010)),
    "cifar100": TorchvisionSpec(
        name="cifar100", tv_class="CIFAR100", folder="cifar-100-python", files=("train", "test", "meta"),
        url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", archive="cifar-100-python.tar.gz",
        download_bytes=169_001_437, val_fraction=1_000 / 50_000, channels=3, native_size=32, num_classes=100,
        mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762)),
}


def load_torchvision_set(name: str, *, root: Path, image_size: int, channels: int, seed: int, download: bool,
                         progress: ProgressFn | None) -> DataSplits:
    """Make sure the files of ``name`` are in ``root`` (downloading if allowed), then read and split them."""
    spec = SPECS[name]
    root = Path(root).expanduser().absolute()
    ensure_present(spec, root=root, download=download, progress=progress)
    folder = root / spec.folder
    try:
        if spec.is_mnist_like:
            train_u8, train_y, test_u8, test_y = _read_mnist(spec, root)
            class_names = spec.class_names
        else:
            train_u8, train_y, test_u8, test_y, class_names = _read_cifar(spec, folder)
    except MissingDataError:
        raise
    except Exception as e:  # any parse failure means a damaged file; say which folder to replace
        raise MissingDataError(
            f"Dataset '{name}': the files in {folder} could not be read ({type(e).__name__}: {e}). Delete that "
            f"folder and load again to re-download, or fetch {spec.url} and put "
            f"{', '.join(spec.files)} into {folder}.", dataset=name, directory=str(folder)) from e
    for split, y in (("train", train_y), ("test", test_y)):
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= spec.num_classes):
            raise MissingDataError(f"Dataset '{name}': {split} labels outside 0..{spec.num_classes - 1} in {folder}; "
                                   "the files are corrupt, delete the folder and load again.",
                                   dataset=name, directory=str(folder))

    train_idx, val_idx = random_split(len(train_y), val_count(len(train_y), fraction=spec.val_fraction), seed=seed)
    mean = spec.mean * (channels // spec.channels)  # a grey dataset repeated to 3 channels repeats its constants
    std = spec.std * (channels // spec.channels)

    def prep(u8: torch.Tensor) -> torch.Tensor:  # (N, C0, H, W) uint8 -> (N, C, S, S) float32
        return images_to_float(u8, image_size=image_size, channels=channels, mean=mean, std=std)

    return DataSplits(
        name=name,
        train_x=prep(train_u8[train_idx]), train_y=train_y[train_idx],
        val_x=prep(train_u8[val_idx]), val_y=train_y[val_idx],
        test_x=prep(test_u8), test_y=test_y,
        num_classes=spec.num_classes, class_names=tuple(class_names),
        mean=mean, std=std, augment=False,
    )


# --- reading ----------------------------------------------------------------------------------------------------

def _read_mnist(spec: TorchvisionSpec, root: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    import torchvision.datasets as tvd  # local import: keeps `import ffviz.data` light for the digits default

    cls = getattr(tvd, spec.tv_class)
    train = cls(str(root), train=True, download=False)  # reads the idx files whole: .data (N, 28, 28) uint8
    test = cls(str(root), train=False, download=False)
    return (train.data.unsqueeze(1), train.targets.to(torch.int64),
            test.data.unsqueeze(1), test.targets.to(torch.int64))


def _unpickle(path: Path) -> dict:
    # The CIFAR batches were pickled by Python 2; latin1 maps their byte strings to str exactly as torchvision
    # does. pickle can run code: only load files from the official archive (or ones you wrote yourself).
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def _read_cifar(spec: TorchvisionSpec, folder: Path
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    label_key = "labels" if spec.num_classes == 10 else "fine_labels"
    *train_files, test_file, meta_file = spec.files

    def read(files: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        data, labels = [], []
        for f in files:
            entry = _unpickle(folder / f)
            data.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))  # channel-planar rows
            labels.append(np.asarray(entry[label_key], dtype=np.int64))
        return torch.from_numpy(np.concatenate(data)), torch.from_numpy(np.concatenate(labels))

    train_x, train_y = read(train_files)  # (N, 3, 32, 32) uint8, (N,) int64
    test_x, test_y = read([test_file])
    meta = _unpickle(folder / meta_file)
    names = list(meta["label_names" if spec.num_classes == 10 else "fine_label_names"])
    if len(names) != spec.num_classes:
        raise ValueError(f"{meta_file} lists {len(names)} class names, expected {spec.num_classes}")
    return train_x, train_y, test_x, test_y, names


# --- presence, local archives, download ---------------------------------------------------------------------------

def is_present(spec: TorchvisionSpec, root: Path) -> bool:
    folder = root / spec.folder
    return all((folder / f).is_file() for f in spec.files)


def missing_message(spec: TorchvisionSpec, root: Path, *, reason: str) -> str:
    folder = root / spec.folder
    if spec.is_mnist_like:
        fetch = (f"fetch {', '.join(f + '.gz' for f in spec.files)} from {spec.url} and put them (gzipped or "
                 f"unpacked) into {folder}")
    else:
        fetch = (f"fetch {spec.url} and extract it inside {root} so that {folder} holds "
                 f"{', '.join(spec.files)} (or just place {spec.archive} in {root})")
    return (f"Dataset '{spec.name}' not found in {folder}: {reason}. To fix it, either train once on a machine "
            f"with internet access (ffviz downloads it into the data folder; copy that folder here), or {fetch}.")


def ensure_present(spec: TorchvisionSpec, *, root: Path, download: bool, progress: ProgressFn | None) -> None:
    """Return when all files of ``spec`` exist under ``root``; otherwise unpack a local archive, download, or
    raise `MissingDataError` saying what to fetch and where to put it."""
    if is_present(spec, root):
        return
    folder = root / spec.folder
    try:
        if _unpack_local(spec, root) and is_present(spec, root):
            return
    except Exception as e:  # a truncated archive placed by hand: say so rather than download over it silently
        raise MissingDataError(missing_message(spec, root, reason=f"the local archive could not be unpacked "
                                               f"({type(e).__name__}: {e}); delete it"),
                               dataset=spec.name, directory=str(folder)) from e
    if not download:
        raise MissingDataError(missing_message(spec, root, reason="files missing and download=False"),
                               dataset=spec.name, directory=str(folder))
    try:
        with staging_dir(root, spec.name) as tmp:
            run_with_progress(lambda: fetch_with_torchvision(spec.name, tmp), progress=progress,
                              total=spec.download_bytes, measure=lambda: bytes_under(tmp, suffix=".gz"))
            install_files(tmp / spec.folder, folder, spec.files)
    except Exception as e:  # no network, server down, bad checksum, disk full: all end the same way for the user
        raise MissingDataError(missing_message(spec, root, reason=f"the download failed ({type(e).__name__}: "
                                               f"{str(e).strip()[:300]})"),
                               dataset=spec.name, directory=str(folder)) from e


def fetch_with_torchvision(name: str, dest: Path) -> None:
    """Download ``name`` into ``dest`` with torchvision's own downloader, which verifies the archives' md5 sums.

    Module-level so tests can replace it (simulating no network, or a download that writes files)."""
    import torchvision.datasets as tvd

    getattr(tvd, SPECS[name].tv_class)(str(dest), train=True, download=True)


def _unpack_local(spec: TorchvisionSpec, root: Path) -> bool:
    """Unpack archives a person (or an older torchvision run) left on disk. True if something was unpacked."""
    folder = root / spec.folder
    if spec.is_mnist_like:
        todo = [f for f in spec.files if not (folder / f).is_file()]
        if not todo or not all((folder / f"{f}.gz").is_file() for f in todo):
            return False
        for f in todo:  # gunzip to a temporary sibling, then rename: a crash never leaves a half file in place
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{f}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as out, gzip.open(folder / f"{f}.gz", "rb") as src:
                    shutil.copyfileobj(src, out)
                os.replace(tmp, folder / f)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return True
    archive = root / spec.archive if spec.archive else None
    if archive is None or not archive.is_file():
        return False
    from torchvision.datasets.utils import extract_archive

    with staging_dir(root, spec.name) as tmp:
        extract_archive(str(archive), str(tmp))
        install_files(tmp / spec.folder, folder, spec.files)
    return True
