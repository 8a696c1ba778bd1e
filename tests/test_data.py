"""Tests of the dataset registry (ffviz.data) -- CPU only, no network.

The torchvision datasets cannot be downloaded here, so the tests write tiny files in the exact on-disk formats the
loaders read (MNIST idx-ubyte files, CIFAR python pickles, the Tiny-ImageNet folder tree) and simulate the network
being down (or a download that writes files) by monkeypatching.
"""

from __future__ import annotations

import gzip
import pickle
import socket
import struct
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from ffviz.data import (
    DATASETS,
    DataSplits,
    MissingDataError,
    clear_cache,
    dataset_names,
    load_dataset,
    torchvision_sets,
)
from ffviz.data import digits as digits_mod
from ffviz.data.torchvision_sets import SPECS


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()  # every test really loads (and no test keeps another's tensors alive)
    yield
    clear_cache()


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails as it would on a machine without internet."""
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network unreachable (blocked by test)")

    def refuse_socket(*args, **kwargs):
        raise OSError("network unreachable (blocked by test)")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse_socket)
    monkeypatch.setattr(socket.socket, "connect", refuse_socket)


def _leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


# --- registry ------------------------------------------------------------------------------------------------------

def test_names_and_registry():
    assert dataset_names() == ["digits", "digit-pairs-25", "digit-pairs-100", "mnist", "fashion-mnist", "cifar10",
                               "cifar100", "tiny-imagenet"]
    assert set(DATASETS) == set(dataset_names())
    assert DATASETS["digits"].downloadable is False and DATASETS["tiny-imagenet"].downloadable is False
    assert DATASETS["cifar10"].downloadable and DATASETS["mnist"].downloadable
    assert DATASETS["tiny-imagenet"].augment and not DATASETS["cifar10"].augment
    assert DATASETS["cifar100"].num_classes == 100 and DATASETS["tiny-imagenet"].num_classes == 200


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as err:
        load_dataset("imagenet")
    for name in dataset_names():
        assert name in str(err.value)


@pytest.mark.parametrize("kwargs, word", [
    ({"image_size": 2}, "image_size"), ({"image_size": 16.0}, "image_size"), ({"image_size": True}, "image_size"),
    ({"channels": 2}, "channels"), ({"seed": "1"}, "seed"), ({"root": 3}, "root"), ({"progress": 5}, "progress"),
])
def test_bad_arguments_raise_value_error_naming_them(kwargs, word):
    with pytest.raises(ValueError, match=word):
        load_dataset("digits", **kwargs)


def test_colour_dataset_rejects_one_channel(tmp_path):
    with pytest.raises(ValueError, match="channels"):
        load_dataset("cifar10", root=tmp_path, channels=1, download=False)


def test_name_spelling_is_forgiven():
    assert load_dataset("Digits").name == "digits"


# --- digits --------------------------------------------------------------------------------------------------------

def test_digits_shapes_and_types():
    s = load_dataset("digits")
    assert isinstance(s, DataSplits)
    assert s.train_x.shape == (1257, 1, 16, 16) and s.val_x.shape == (180, 1, 16, 16)
    assert s.test_x.shape == (360, 1, 16, 16)
    assert s.train_x.dtype == torch.float32 and s.train_y.dtype == torch.int64
    assert (s.num_classes, s.class_names) == (10, tuple("0123456789"))
    assert (s.in_channels, s.image_size, s.augment) == (1, 16, False)


def test_digits_is_stratified():
    s = load_dataset("digits")
    total = torch.bincount(torch.cat([s.train_y, s.val_y, s.test_y]), minlength=10).double()
    assert total.sum() == 1797
    for y, n in ((s.train_y, 1257), (s.val_y, 180), (s.test_y, 360)):
        counts = torch.bincount(y, minlength=10).double()
        assert (counts > 0).all()
        assert torch.all((counts - total * n / 1797).abs() <= 1.0)  # proportional up to rounding


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("image_size", [16, 32])
def test_digits_channels_and_size(channels, image_size):
    s = load_dataset("digits", channels=channels, image_size=image_size)
    for x in (s.train_x, s.val_x, s.test_x):
        assert x.shape[1:] == (channels, image_size, image_size)
    assert len(s.mean) == len(s.std) == channels
    if channels == 3:
        assert torch.equal(s.train_x[:, 0], s.train_x[:, 2])  # grey repeated


@pytest.mark.parametrize("channels", [1, 3])
def test_digits_train_split_is_normalised(channels):
    s = load_dataset("digits", channels=channels)
    mean = s.train_x.mean(dim=(0, 2, 3))
    std = s.train_x.std(dim=(0, 2, 3), unbiased=False)
    assert torch.allclose(mean, torch.zeros(channels), atol=1e-4)
    assert torch.allclose(std, torch.ones(channels), atol=1e-4)
    # un-normalising gives back the [0, 1] pixel range of the upsampled 0..16 images
    raw = s.train_x[:, 0] * s.std[0] + s.mean[0]
    assert raw.min() >= -1e-4 and raw.max() <= 1 + 1e-4


def test_digits_split_is_fixed_across_calls_and_seeds():
    a = load_dataset("digits", seed=1)
    clear_cache()
    b = load_dataset("digits", seed=99)
    clear_cache()
    c = load_dataset("digits")
    for f in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
        assert torch.equal(getattr(a, f), getattr(b, f)) and torch.equal(getattr(a, f), getattr(c, f))
    assert digits_mod.DIGITS_SPLIT_SEED == 2222  # a constant, not the run seed


def test_digits_never_touches_network(no_network, tmp_path):
    s = load_dataset("digits", root=tmp_path / "nowhere", download=True)
    assert len(s.train_y) == 1257
    assert not (tmp_path / "nowhere").exists()


def test_digits_progress_and_cache():
    calls = []
    a = load_dataset("digits", progress=lambda d, t: calls.append((d, t)))
    assert calls[0][0] == 0 and calls[-1][0] == calls[-1][1]
    assert load_dataset("digits") is a  # cached in-process


def test_to_device_returns_copy():
    s = load_dataset("digits")
    t = s.to("cpu")
    assert t is not s and t.name == s.name and torch.equal(t.train_x, s.train_x)
    assert "train=1257" in repr(s)


# --- fake torchvision files --------------------------------------------------------------------------------------

def _idx_images(images: np.ndarray) -> bytes:  # big-endian idx3-ubyte: magic 0x0803, dims, uint8 pixels
    n, h, w = images.shape
    return struct.pack(">IIII", 0x0803, n, h, w) + images.astype(np.uint8).tobytes()


def _idx_labels(labels: np.ndarray) -> bytes:  # idx1-ubyte: magic 0x0801, N, uint8 labels
    return struct.pack(">II", 0x0801, len(labels)) + labels.astype(np.uint8).tobytes()


def write_mnist(raw_dir: Path, *, n_train: int = 60, n_test: int = 12, gz: bool = False) -> None:
    """Image i of a split is filled with the value i (so a test can recover its index); label = i % 10."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = np.repeat(np.arange(n, dtype=np.uint8)[:, None, None], 28 * 28, axis=1).reshape(n, 28, 28)
        labels = np.arange(n) % 10
        for name, data in ((f"{prefix}-images-idx3-ubyte", _idx_images(images)),
                           (f"{prefix}-labels-idx1-ubyte", _idx_labels(labels))):
            if gz:
                (raw_dir / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (raw_dir / name).write_bytes(data)


def _cifar_batch(start: int, n: int, num_classes: int, label_key: str) -> dict:
    # Image k: channel-planar rows, R plane = k % 200, G = 100, B = 200 (so the decode order can be checked).
    k = np.arange(start, start + n)
    data = np.empty((n, 3, 1024), dtype=np.uint8)
    data[:, 0, :] = (k % 200)[:, None]
    data[:, 1, :] = 100
    data[:, 2, :] = 200
    return {"batch_label": "fake", label_key: [int(v) for v in k % num_classes], "data": data.reshape(n, 3072),
            "filenames": [f"img_{i}.png" for i in k]}


def _dump(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_cifar10(folder: Path, *, per_batch: int = 20, n_test: int = 10) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for b in range(5):
        _dump(folder / f"data_batch_{b + 1}", _cifar_batch(b * per_batch, per_batch, 10, "labels"))
    _dump(folder / "test_batch", _cifar_batch(0, n_test, 10, "labels"))
    _dump(folder / "batches.meta", {"label_names": [f"class{i}" for i in range(10)], "num_vis": 3072,
                                    "num_cases_per_batch": per_batch})


def write_cifar100(folder: Path, *, n_train: int = 200, n_test: int = 20) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("test", n_test)):
        batch = _cifar_batch(0, n, 100, "fine_labels")
        batch["coarse_labels"] = [v // 5 for v in batch["fine_labels"]]
        _dump(folder / name, batch)
    _dump(folder / "meta", {"fine_label_names": [f"fine{i}" for i in range(100)],
                            "coarse_label_names": [f"coarse{i}" for i in range(20)]})


def write_torchvision_set(name: str, root: Path) -> None:
    if name in ("mnist", "fashion-mnist"):
        write_mnist(root / SPECS[name].folder)
    elif name == "cifar10":
        write_cifar10(root / SPECS[name].folder)
    else:
        write_cifar100(root / SPECS[name].folder)


def _unnormalise(x: torch.Tensor, s: DataSplits) -> torch.Tensor:
    return x * torch.tensor(s.std).view(1, -1, 1, 1) + torch.tensor(s.mean).view(1, -1, 1, 1)


# --- MNIST / Fashion-MNIST ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_mnist_like_loads_and_splits(name, tmp_path, no_network):
    write_mnist(tmp_path / SPECS[name].folder)
    s = load_dataset(name, root=tmp_path, download=True, seed=5)  # files present: no download attempted
    assert (len(s.train_y), len(s.val_y), len(s.test_y)) == (50, 10, 12)  # 1/6 of 60 -> 10, as 10,000 of 60,000
    assert s.train_x.shape[1:] == (1, 32, 32) and s.train_x.dtype == torch.float32
    assert s.mean == SPECS[name].mean and s.num_classes == 10 and len(s.class_names) == 10

    # native size: pixels recover each image's index, which must fit its label; train/val partition the set
    s = load_dataset(name, root=tmp_path, image_size=28, seed=5)
    idx = {}
    for split in ("train", "val", "test"):
        x = _unnormalise(getattr(s, f"{split}_x"), s)
        idx[split] = torch.round(x[:, 0, 0, 0] * 255).long()
        assert torch.equal(idx[split] % 10, getattr(s, f"{split}_y"))
    assert sorted(torch.cat([idx["train"], idx["val"]]).tolist()) == list(range(60))
    assert idx["test"].tolist() == list(range(12))


def test_mnist_split_follows_seed(tmp_path):
    write_mnist(tmp_path / "MNIST" / "raw", n_train=240)
    a = load_dataset("mnist", root=tmp_path, seed=1, download=False)
    b = load_dataset("mnist", root=tmp_path, seed=1, download=False)
    c = load_dataset("mnist", root=tmp_path, seed=2, download=False)
    assert torch.equal(a.val_x, b.val_x) and len(a.val_y) == 40  # 1/6 of 240, as 10,000 of 60,000
    assert not torch.equal(a.val_x, c.val_x)


def test_mnist_three_channels_and_gz_files(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    write_mnist(raw, gz=True)  # only the .gz files, as a person might download them
    s = load_dataset("fashion-mnist", root=tmp_path, channels=3, image_size=16, download=False)
    assert s.train_x.shape[1:] == (3, 16, 16) and len(s.mean) == 3
    assert (raw / "train-images-idx3-ubyte").is_file()
    assert not [p for p in raw.iterdir() if p.name.endswith(".tmp")]


# --- CIFAR -------------------------------------------------------------------------------------------------------

def test_cifar10_loads_pickled_batches(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-py")
    s = load_dataset("cifar10", root=tmp_path, download=False)
    assert (len(s.train_y), len(s.val_y), len(s.test_y)) == (98, 2, 10)  # 1/50, as 1,000 of 50,000
    assert s.train_x.shape[1:] == (3, 32, 32)
    assert s.mean == (0.4914, 0.4822, 0.4465) and s.std == (0.2023, 0.1994, 0.2010)
    assert s.class_names == tuple(f"class{i}" for i in range(10)) and not s.augment
    for split in ("train", "val", "test"):
        x = torch.round(_unnormalise(getattr(s, f"{split}_x"), s) * 255)  # (N, 3, 32, 32) back in 0..255
        k = x[:, 0, 5, 7].long()  # R plane holds the image index
        assert torch.equal(k % 10, getattr(s, f"{split}_y"))
        assert (x[:, 1] == 100).all() and (x[:, 2] == 200).all()  # planes decoded in R, G, B order


def test_cifar100_loads_fine_labels(tmp_path):
    write_cifar100(tmp_path / "cifar-100-python")
    s = load_dataset("cifar100", root=tmp_path, image_size=16, download=False, seed=3)
    assert (len(s.train_y), len(s.val_y), len(s.test_y)) == (196, 4, 20)
    assert s.num_classes == 100 and s.class_names[7] == "fine7" and s.train_x.shape[1:] == (3, 16, 16)
    assert s.mean == SPECS["cifar100"].mean
    assert int(torch.cat([s.train_y, s.val_y]).max()) == 99


def test_cifar_archive_placed_by_hand_is_extracted(tmp_path):
    src = tmp_path / "src"
    write_cifar10(src / "cifar-10-batches-py")
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    s = load_dataset("cifar10", root=root, download=False)
    assert len(s.test_y) == 10
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]


def test_corrupt_cifar_file_raises_missing_data_error(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    (folder / "data_batch_3").write_bytes(b"\x80\x02not a pickle")
    with pytest.raises(MissingDataError) as err:
        load_dataset("cifar10", root=tmp_path, download=False)
    assert str(folder) in str(err.value)


# --- missing data and downloads ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10", "cifar100"])
def test_missing_without_download(name, tmp_path):
    root = tmp_path / "data"
    with pytest.raises(MissingDataError) as err:
        load_dataset(name, root=root, download=False)
    msg = str(err.value)
    folder = root / SPECS[name].folder
    assert str(folder) in msg and SPECS[name].url in msg and SPECS[name].files[0] in msg
    assert err.value.directory == str(folder) and err.value.dataset == name
    assert not root.exists()  # nothing created


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10", "cifar100"])
def test_download_without_network_raises_and_leaves_nothing(name, tmp_path, no_network):
    """The real torchvision download code runs; urlopen fails as it does offline."""
    root = tmp_path / "data"
    calls = []
    with pytest.raises(MissingDataError) as err:
        load_dataset(name, root=root, download=True, progress=lambda d, t: calls.append((d, t)))
    assert str(root / SPECS[name].folder) in str(err.value) and "download failed" in str(err.value)
    assert not root.exists()  # created for the download, removed again
    assert calls and calls[0][0] == 0
    # an existing root is kept, and stays empty
    root.mkdir()
    with pytest.raises(MissingDataError):
        load_dataset(name, root=root, download=True)
    assert _leftovers(root) == []


def test_interrupted_download_leaves_no_partial_files(tmp_path, monkeypatch):
    def half_download(name: str, dest: Path) -> None:
        folder = dest / SPECS[name].folder
        folder.mkdir(parents=True)
        (folder / "data_batch_1").write_bytes(b"partial")  # what a cut connection might leave
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(torchvision_sets, "fetch_with_torchvision", half_download)
    root = tmp_path / "data"
    root.mkdir()
    with pytest.raises(MissingDataError, match="connection reset"):
        load_dataset("cifar10", root=root, download=True)
    assert _leftovers(root) == []
    with pytest.raises(MissingDataError, match="download=False"):  # still "missing", not "corrupt"
        load_dataset("cifar10", root=root, download=False)


def test_successful_download_installs_files_and_reports_progress(tmp_path, monkeypatch):
    def fake_download(name: str, dest: Path) -> None:
        (dest / SPECS[name].archive).write_bytes(b"x" * 1000)  # the archive torchvision would keep
        write_cifar100(dest / SPECS[name].folder)

    monkeypatch.setattr(torchvision_sets, "fetch_with_torchvision", fake_download)
    root = tmp_path / "data"
    calls = []
    s = load_dataset("cifar100", root=root, progress=lambda d, t: calls.append((d, t)))
    assert len(s.test_y) == 20
    total = SPECS["cifar100"].download_bytes
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert all(0 <= d <= t for d, t in calls)
    assert _leftovers(root) == sorted(["cifar-100-python"] + [f"cifar-100-python/{f}" for f in ("meta", "test",
                                                                                                  "train")])


# --- Tiny-ImageNet -------------------------------------------------------------------------------------------------

WNIDS = ["n03000000", "n01000000", "n02000000"]  # deliberately unsorted: labels follow wnids.txt order
COLOURS = {"n03000000": (220, 30, 30), "n01000000": (30, 220, 30), "n02000000": (30, 30, 220)}


def write_tiny_imagenet(root: Path, *, per_class: int = 4, val_per_class: int = 2) -> Path:
    from PIL import Image

    folder = root / "tiny-imagenet-200"
    (folder / "val" / "images").mkdir(parents=True)
    (folder / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    (folder / "words.txt").write_text("n01000000\tfrog, toad\nn02000000\tkettle\nn03000000\ttram, tramcar\n"
                                      "n09999999\tunused\n")
    for wnid in WNIDS:
        img_dir = folder / "train" / wnid / "images"
        img_dir.mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (64, 64), COLOURS[wnid]).save(img_dir / f"{wnid}_{i}.JPEG", quality=95)
        (folder / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
    lines = []
    for j in range(val_per_class * len(WNIDS)):
        wnid = WNIDS[j % len(WNIDS)]
        Image.new("RGB", (64, 64), COLOURS[wnid]).save(folder / "val" / "images" / f"val_{j}.JPEG", quality=95)
        lines.append(f"val_{j}.JPEG\t{wnid}\t0\t0\t63\t63")
    # one greyscale JPEG (the real set has some): must come back as RGB
    Image.new("L", (64, 64), 128).save(folder / "train" / WNIDS[0] / "images" / f"{WNIDS[0]}_grey.JPEG")
    (folder / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return folder


def test_tiny_imagenet_loads_folder(tmp_path, no_network):
    write_tiny_imagenet(tmp_path)
    calls = []
    s = load_dataset("tiny-imagenet", root=tmp_path, progress=lambda d, t: calls.append((d, t)))
    assert (len(s.train_y), len(s.val_y), len(s.test_y)) == (10, 3, 6)  # 13 train images, 1 per class to val
    assert torch.equal(torch.bincount(s.val_y, minlength=3), torch.ones(3, dtype=torch.int64))
    assert s.train_x.shape[1:] == (3, 64, 64) and s.augment and s.num_classes == 3
    assert s.class_names == ("tram", "frog", "kettle")
    assert calls[-1] == (19, 19)
    # labels map through wnids.txt: the colour of each image is its class's colour
    expected = torch.tensor([COLOURS[w] for w in WNIDS], dtype=torch.float32)  # (3, 3) label -> RGB
    for split in ("train", "val", "test"):
        rgb = _unnormalise(getattr(s, f"{split}_x"), s).mean(dim=(2, 3)) * 255  # (N, 3)
        y = getattr(s, f"{split}_y")
        colour = (rgb - expected[y]).abs().max(dim=1).values < 8
        grey = (rgb - 128).abs().max(dim=1).values < 8
        assert torch.all(colour | (grey & (y == 0)))
    assert int(((_unnormalise(s.train_x, s).mean(dim=(2, 3)) * 255 - 128).abs().max(dim=1).values < 8).sum()) + \
        int(((_unnormalise(s.val_x, s).mean(dim=(2, 3)) * 255 - 128).abs().max(dim=1).values < 8).sum()) == 1


def test_tiny_imagenet_resized_and_split_seeded(tmp_path):
    write_tiny_imagenet(tmp_path, per_class=6)
    a = load_dataset("tiny-imagenet", root=tmp_path, image_size=32, seed=1)
    assert a.train_x.shape[1:] == (3, 32, 32)
    b = load_dataset("tiny-imagenet", root=tmp_path, image_size=32, seed=1)
    assert torch.equal(a.val_x, b.val_x)


def test_tiny_imagenet_missing(tmp_path, no_network):
    with pytest.raises(MissingDataError) as err:
        load_dataset("tiny-imagenet", root=tmp_path, download=True)  # never downloads
    msg = str(err.value)
    assert str(tmp_path / "tiny-imagenet-200") in msg and "tiny-imagenet-200.zip" in msg
    assert _leftovers(tmp_path) == []


def test_tiny_imagenet_incomplete_folder(tmp_path):
    folder = write_tiny_imagenet(tmp_path)
    (folder / "val" / "images" / "val_0.JPEG").unlink()
    with pytest.raises(MissingDataError, match="could not be read"):
        load_dataset("tiny-imagenet", root=tmp_path)


def test_torchvision_specs_match_torchvision():
    """The folder/file names and URLs in our specs are the ones torchvision itself uses."""
    import torchvision.datasets as tvd

    for spec in SPECS.values():
        cls = getattr(tvd, spec.tv_class)
        if spec.is_mnist_like:
            assert [r[0].removesuffix(".gz") for r in cls.resources] == list(spec.files)
            assert spec.url in cls.mirrors and spec.folder == f"{cls.__name__}/raw"
        else:
            listed = [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
            assert listed == list(spec.files) and cls.url == spec.url and cls.filename == spec.archive
            assert cls.base_folder == spec.folder
