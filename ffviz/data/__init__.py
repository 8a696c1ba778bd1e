"""Datasets for the Forward-Forward trainer: a registry of names and one loader returning ready tensors.

    from ffviz.data import load_dataset, dataset_names
    splits = load_dataset("cifar10", root="data", seed=2222)   # DataSplits: normalised float32 (N, C, H, W)
    splits = splits.to("cuda")

Names: digits (default, bundled with scikit-learn, never downloads), mnist, fashion-mnist, cifar10, cifar100
(downloaded by torchvision into ``root`` on first use) and tiny-imagenet (a local folder). Missing data raises
`MissingDataError` whose message names what to fetch and the exact folder to put it in.
"""

from ffviz.data.errors import MissingDataError
from ffviz.data.registry import DATASETS, DatasetInfo, clear_cache, dataset_names, load_dataset
from ffviz.data.splits import DataSplits

__all__ = ["DATASETS", "DataSplits", "DatasetInfo", "MissingDataError", "clear_cache", "dataset_names",
           "load_dataset"]
