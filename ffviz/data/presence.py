"""Whether a dataset is on this server's disk, asked before a run starts (no torch, no reading of the images).

    missing_data("cifar10", root=Path("data"), downloads=False)
    # "Dataset 'cifar10' not found in data/cifar-10-batches-py: ... fetch https://... and extract it inside data ..."

The Train page marks a dataset that is not there, with what to fetch and where to put it, instead of letting a run
fail seconds after Start. A dataset the server may download is not missing: the run downloads it (with the run's
own progress), and the note says so.
"""

from __future__ import annotations

from pathlib import Path

from ffviz.data import tiny_imagenet, torchvision_sets


def missing_data(name: str, *, root: Path, downloads: bool) -> str | None:
    """What is missing and how to fix it, or None when a run of ``name`` can load its data here (on disk,
    bundled, or downloadable on this server). Datasets this module does not know are taken as present: their loader
    says what is wrong when the run starts."""
    root = Path(root)
    spec = torchvision_sets.SPECS.get(name)
    if spec is not None:
        if torchvision_sets.is_present(spec, root) or (spec.archive and (root / spec.archive).is_file()):
            return None
        if downloads:
            return None
        return torchvision_sets.missing_message(spec, root, reason="this server does not download data "
                                                "(FFVIZ_DOWNLOADS=0)")
    if name == "tiny-imagenet":
        folder = root / tiny_imagenet.FOLDER
        if (folder / "wnids.txt").is_file() and (folder / "train").is_dir():
            return None
        return tiny_imagenet.missing_message(root, reason="the folder is not on this server's disk")
    return None


def download_note(name: str, *, root: Path, downloads: bool) -> str | None:
    """A line for a dataset the run will download first (it takes a while), or None."""
    spec = torchvision_sets.SPECS.get(name)
    if spec is None or not downloads or torchvision_sets.is_present(spec, Path(root)):
        return None
    return (f"{name} is not on this server's disk yet: the run downloads it first (about "
            f"{spec.download_bytes / 2**20:.0f} MB into {Path(root) / spec.folder}).")
