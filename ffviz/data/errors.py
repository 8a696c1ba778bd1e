"""The one error a data loader raises when files are absent, incomplete or unreadable.

Its message is written for a person at a terminal or in the app: which dataset, what to fetch (URL and file
names) and the absolute directory to put it in, so the fix needs no reading of source code.
"""

from __future__ import annotations


class MissingDataError(RuntimeError):
    """A dataset's files are not on disk (or are corrupt) and could not be downloaded.

    Attributes:
        dataset: registry name of the dataset, e.g. ``"cifar10"``.
        directory: absolute path of the folder where the files are expected.
    """

    def __init__(self, message: str, *, dataset: str, directory: str) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.directory = directory
