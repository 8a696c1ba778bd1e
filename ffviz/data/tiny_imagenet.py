"""Tiny-ImageNet-200 from a local folder in its standard layout (never downloaded: no stable package for it).

Expected layout (what unzipping the official ``tiny-imagenet-200.zip`` into ``root`` gives)::

    root/tiny-imagenet-200/wnids.txt                       200 WordNet ids, one per line; line order = label
    root/tiny-imagenet-200/words.txt                       optional, "wnid<TAB>name, synonym, ..." -> class names
    root/tiny-imagenet-200/train/<wnid>/images/*.JPEG      500 per class, 64x64
    root/tiny-imagenet-200/val/images/*.JPEG               10,000
    root/tiny-imagenet-200/val/val_annotations.txt         "file<TAB>wnid<TAB>box..." per line

The official validation set (its test set has no labels) is our TEST split; our validation split is carved out
of train, stratified and seeded: 50 images per class (10,000; 90,000 remain for training, as the authors' code).
Classes with fewer images give 1/10 of theirs, at least 1 when they have 2 or more. ``augment`` is True: the
trainer applies random crop (pad 4, a black border, as the authors' code) + flip per batch. Normalisation uses
the commonly quoted Tiny-ImageNet constants below.

Decoding 110,000 JPEGs is the slow part (PIL, a thread pool: PIL releases the GIL while decoding). Memory: the
float32 train split alone is 90,000 x 3 x 64 x 64 x 4 bytes ~ 4.8 GB; use ``image_size=32`` to quarter it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ffviz.data.download import ProgressFn
from ffviz.data.errors import MissingDataError
from ffviz.data.splits import DataSplits, images_to_float, stratified_split
from ffviz.lazy import lazy_import

torch = lazy_import("torch")  # imported when a dataset is loaded, not when the registry is (a server never does)

FOLDER = "tiny-imagenet-200"
URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
NATIVE_SIZE = 64
MEAN = (0.4802, 0.4481, 0.3975)
STD = (0.2302, 0.2265, 0.2262)
VAL_PER_CLASS = 50
_PROGRESS_EVERY = 2048  # images between progress reports while decoding


def missing_message(root: Path, *, reason: str) -> str:
    folder = root / FOLDER
    return (f"Dataset 'tiny-imagenet' not found in {folder}: {reason}. It is never downloaded automatically: "
            f"download {URL} (about 237 MB) and unzip it inside {root}, so that {folder / 'wnids.txt'}, "
            f"{folder / 'train'} and {folder / 'val' / 'val_annotations.txt'} exist.")


def load_tiny_imagenet(*, root: Path, image_size: int, seed: int, progress: ProgressFn | None) -> DataSplits:
    """Read the folder, decode every image, split and normalise. ``progress(done, total)`` counts images."""
    root = Path(root).expanduser().absolute()
    folder = root / FOLDER
    wnids, train_files, train_y, test_files, test_y = _index(root)
    names = _class_names(folder, wnids)

    paths = train_files + test_files
    pixels = _decode_all(paths, folder=folder, progress=progress)  # (N, 3, 64, 64) uint8
    train_u8, test_u8 = pixels[:len(train_files)], pixels[len(train_files):]
    train_y_t = torch.tensor(train_y, dtype=torch.int64)
    counts = torch.bincount(train_y_t, minlength=len(wnids)).tolist()
    per_class_val = [min(VAL_PER_CLASS, max(1, round(c / 10))) if c >= 2 else 0 for c in counts]
    train_idx, val_idx = stratified_split(train_y_t, per_class_val, seed=seed)

    def prep(u8: torch.Tensor) -> torch.Tensor:  # (N, 3, 64, 64) uint8 -> (N, 3, S, S) float32
        return images_to_float(u8, image_size=image_size, channels=3, mean=MEAN, std=STD)

    return DataSplits(
        name="tiny-imagenet",
        train_x=prep(train_u8[train_idx]), train_y=train_y_t[train_idx],
        val_x=prep(train_u8[val_idx]), val_y=train_y_t[val_idx],
        test_x=prep(test_u8), test_y=torch.tensor(test_y, dtype=torch.int64),
        num_classes=len(wnids), class_names=names, mean=MEAN, std=STD, augment=True,
    )


def _index(root: Path) -> tuple[list[str], list[Path], list[int], list[Path], list[int]]:
    """File lists and labels (label = line of the wnid in wnids.txt); raises MissingDataError naming what lacks."""
    folder = root / FOLDER
    wnids_file = folder / "wnids.txt"
    annotations = folder / "val" / "val_annotations.txt"
    for needed in (wnids_file, folder / "train", annotations):
        if not needed.exists():
            raise MissingDataError(missing_message(root, reason=f"{needed} does not exist"),
                                   dataset="tiny-imagenet", directory=str(folder))
    wnids = [line.strip() for line in wnids_file.read_text().splitlines() if line.strip()]
    label_of = {w: i for i, w in enumerate(wnids)}

    train_files: list[Path] = []
    train_y: list[int] = []
    for wnid in wnids:
        img_dir = folder / "train" / wnid / "images"
        if not img_dir.is_dir():
            raise MissingDataError(missing_message(root, reason=f"{img_dir} does not exist (incomplete unzip?)"),
                                   dataset="tiny-imagenet", directory=str(folder))
        files = sorted(e.path for e in os.scandir(img_dir) if e.name.lower().endswith((".jpeg", ".jpg")))
        train_files += [Path(p) for p in files]
        train_y += [label_of[wnid]] * len(files)

    test_files: list[Path] = []
    test_y: list[int] = []
    for n, line in enumerate(annotations.read_text().splitlines(), start=1):
        parts = line.split("\t")
        if not line.strip():
            continue
        if len(parts) < 2 or parts[1] not in label_of:
            raise MissingDataError(missing_message(root, reason=f"{annotations} line {n} is malformed or names a "
                                                   f"wnid not in wnids.txt: {line[:80]!r}"),
                                   dataset="tiny-imagenet", directory=str(folder))
        test_files.append(folder / "val" / "images" / parts[0])
        test_y.append(label_of[parts[1]])
    if not train_files or not test_files:
        raise MissingDataError(missing_message(root, reason="no training or validation images were found"),
                               dataset="tiny-imagenet", directory=str(folder))
    return wnids, train_files, train_y, test_files, test_y


def _class_names(folder: Path, wnids: list[str]) -> tuple[str, ...]:
    """First synonym from words.txt ("n01443537<TAB>goldfish, Carassius auratus" -> "goldfish"), else the wnid."""
    words: dict[str, str] = {}
    words_file = folder / "words.txt"
    if words_file.is_file():
        for line in words_file.read_text(encoding="utf-8", errors="replace").splitlines():
            wnid, _, text = line.partition("\t")
            if text:
                words[wnid.strip()] = text.split(",")[0].strip()
    return tuple(words.get(w, w) for w in wnids)


def _decode(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")  # some Tiny-ImageNet JPEGs are greyscale
        if im.size != (NATIVE_SIZE, NATIVE_SIZE):
            im = im.resize((NATIVE_SIZE, NATIVE_SIZE), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8)  # (64, 64, 3)


def _decode_all(paths: list[Path], *, folder: Path, progress: ProgressFn | None) -> torch.Tensor:
    """Decode every image into one preallocated ``(N, 3, 64, 64)`` uint8 tensor (HWC arrays, one transpose)."""
    out = np.empty((len(paths), NATIVE_SIZE, NATIVE_SIZE, 3), dtype=np.uint8)
    if progress is not None:
        progress(0, len(paths))
    workers = min(8, (os.cpu_count() or 1) + 2)  # I/O + GIL-free decoding: a few more threads than cores
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ffviz-jpeg") as pool:
            for i, arr in enumerate(pool.map(_decode, paths, chunksize=64)):
                out[i] = arr
                if progress is not None and (i + 1) % _PROGRESS_EVERY == 0:
                    progress(i + 1, len(paths))
    except (OSError, ValueError) as e:  # unreadable/truncated JPEG or a file listed but absent
        raise MissingDataError(f"Dataset 'tiny-imagenet': an image could not be read ({type(e).__name__}: {e}). "
                               f"Re-unzip {URL} inside {folder.parent}.",
                               dataset="tiny-imagenet", directory=str(folder)) from e
    if progress is not None:
        progress(len(paths), len(paths))
    return torch.from_numpy(out).permute(0, 3, 1, 2)  # (N, 3, 64, 64), a view; indexing later makes it compact
