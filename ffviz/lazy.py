"""A module imported on first use: what lets the dataset registry (and so every config) load without torch.

    from ffviz.lazy import lazy_import
    torch = lazy_import("torch")        # nothing imported yet
    torch.zeros(3)                      # imported here, once; afterwards plain attribute access

The server that draws pages reads run folders (JSON, JSON lines, npz) and never needs torch, which costs it
seconds at a cold start and hundreds of MB of memory; the modules that train need it only when they run.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _LazyModule(ModuleType):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__dict__["_ffviz_target"] = None

    def _load(self) -> ModuleType:
        target = self.__dict__["_ffviz_target"]
        if target is None:
            target = importlib.import_module(self.__name__)
            self.__dict__["_ffviz_target"] = target
        return target

    def __getattr__(self, name: str) -> Any:
        return getattr(self._load(), name)


def lazy_import(name: str) -> Any:
    """A stand-in for ``import name`` that imports the module at its first attribute access."""
    return _LazyModule(name)
