"""The authors' weights file, all_epochs_layer_weights.txt, read back: every 10th epoch, each layer's
W = softmax(A / T_e) (C channels x K classes), as numpy printed it (authors_format.py says what their scripts write).

    weights, shapes, notes = read_weights(Path("all_epochs_layer_weights.txt"))   # {epoch: [W (C, K) per layer]}

The file is untrusted: its size, every count and every weight are bounded, and anything out of place is refused with
the line it is on.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ffviz.interop.authors_format import (
    MAX_CHANNELS,
    MAX_CLASSES,
    MAX_EPOCHS,
    MAX_LAYERS,
    MAX_WEIGHTS_BYTES,
    WEIGHTS_TITLE,
    WRITTEN_CLASSES,
    AuthorsLogsError,
    read_text,
    whole,
)

_EPOCH = re.compile(r"^Epoch (\d{1,6})\s*$")
_LAYER = re.compile(r"^(\d{1,4})\s+\((\d{1,12}), (\d{1,12})\)\s+Class (\d{1,4}): (.*)$")
_CLASS = re.compile(r"^\s+Class (\d{1,4}): (.*)$")
_NO_WEIGHTS = re.compile(r"^Layer (\d{1,4}): No weights available\s*$")
_FLOAT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")

Weights = dict[int, list[np.ndarray | None]]


def read_weights(path: Path) -> tuple[Weights, dict[int, tuple[int, int]], list[str]]:
    """{epoch: per layer W (C, K) or None where the file says "No weights available"}, each layer's (C, K), notes."""
    text = read_text(path, MAX_WEIGHTS_BYTES)
    if not text.startswith(WEIGHTS_TITLE):
        raise AuthorsLogsError(f"{path.name} does not start with '{WEIGHTS_TITLE}': not the weights file of the "
                               f"authors' script")
    reader = _WeightsReader(path.name)
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        reader.read_line(n, line)
    return reader.result(len(lines))


class _WeightsReader:
    """One pass over the file's lines: an "Epoch N" block, per layer a "Class 0" line with its shape, the other
    classes' lines, each a bracketed list that numpy may have wrapped over several lines."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.epochs: dict[int, dict[int, np.ndarray | None]] = {}
        self.shapes: dict[int, tuple[int, int]] = {}
        self.epoch: int | None = None
        self.layer: int | None = None
        self.cols: list[np.ndarray] = []
        self.buf: str | None = None  # the text of the class column being read, until its "]"
        self.klass = 0

    def fail(self, n: int, what: str) -> AuthorsLogsError:
        return AuthorsLogsError(f"{self.name} line {n}: {what}")

    def read_line(self, n: int, line: str) -> None:
        if self.buf is not None:  # a wrapped column: numpy's continuation lines
            self.buf += " " + line
            if "]" in line:
                self.end_column(n)
            elif len(self.buf) > 40 * MAX_CHANNELS:
                raise self.fail(n, "a list of weights that never closes")
        elif m := _EPOCH.match(line):
            self.start_epoch(n, m)
        elif m := _LAYER.match(line):
            self.start_layer(n, m)
        elif m := _CLASS.match(line):
            if self.layer is None or int(m.group(1)) != len(self.cols):
                raise self.fail(n, f"Class {m.group(1)} out of place")
            self.klass = int(m.group(1))
            self.start_column(n, m.group(2))
        elif m := _NO_WEIGHTS.match(line):
            self.end_layer(n)
            if self.epoch is None:
                raise self.fail(n, "a layer before any 'Epoch N' line")
            if int(m.group(1)) != len(self.epochs[self.epoch]):
                raise self.fail(n, f"layer {m.group(1)} out of order")
            self.epochs[self.epoch][int(m.group(1))] = None
        elif line.startswith("-" * 20):
            self.end_layer(n)
        elif not (line.startswith("=" * 20) or not line.strip() or n <= 5 or line.startswith("Layer    Shape")):
            raise AuthorsLogsError(f"{self.name} line {n} is not part of their weights file: {line[:60]!r}")

    def start_epoch(self, n: int, m: re.Match[str]) -> None:
        self.end_layer(n)
        epoch = whole(m.group(1), f"{self.name} line {n}: epoch")
        if epoch in self.epochs:
            raise self.fail(n, f"epoch {epoch} appears twice")
        if len(self.epochs) >= MAX_EPOCHS:
            raise AuthorsLogsError(f"{self.name} holds more than {MAX_EPOCHS} epochs")
        self.epoch = epoch
        self.epochs[epoch] = {}

    def start_layer(self, n: int, m: re.Match[str]) -> None:
        self.end_layer(n)
        if self.epoch is None:
            raise self.fail(n, "a layer before any 'Epoch N' line")
        layer, c, k, klass = (int(g) for g in m.groups()[:4])
        if layer != len(self.epochs[self.epoch]) or layer >= MAX_LAYERS:
            raise self.fail(n, f"layer {layer} where layer {len(self.epochs[self.epoch])} was expected (at most "
                               f"{MAX_LAYERS} layers)")
        if not (1 <= c <= MAX_CHANNELS and 2 <= k <= MAX_CLASSES):
            raise self.fail(n, f"layer {layer} has shape ({c}, {k}); at most {MAX_CHANNELS} channels and "
                               f"{MAX_CLASSES} classes are accepted")
        if self.shapes.setdefault(layer, (c, k)) != (c, k):
            raise self.fail(n, f"layer {layer} is {(c, k)} here and {self.shapes[layer]} at an earlier epoch")
        if klass != 0:
            raise self.fail(n, "a layer's first class must be Class 0")
        self.layer, self.klass = layer, klass
        self.start_column(n, m.group(5))

    def start_column(self, n: int, text: str) -> None:
        self.buf = text
        if "]" in text:
            self.end_column(n)

    def end_column(self, n: int) -> None:
        assert self.buf is not None and self.layer is not None
        c, _ = self.shapes[self.layer]
        body, where = self.buf.strip(), f"layer {self.layer} class {self.klass}"
        if not (body.startswith("[") and body.endswith("]")):
            raise self.fail(n, f"{where} is not a bracketed list")
        if "..." in body:
            raise AuthorsLogsError(f"{self.name}: layer {self.layer} has {c} channels, which numpy summarised with "
                                   f"'...' (it prints at most 1000 values): that W cannot be read back")
        inner = body[1:-1]
        if re.search(r"nan|inf", inner, re.IGNORECASE):
            raise self.fail(n, f"{where} holds NaN or infinite weights")
        values = _FLOAT.findall(inner)
        if len(values) != c or _FLOAT.sub("", inner).strip():
            raise self.fail(n, f"{where} has {len(values)} weights for its {c} channels")
        col = np.asarray([float(v) for v in values], dtype=np.float32)
        if col.min() < 0 or col.max() > 1 + 1e-3:
            raise self.fail(n, f"layer {self.layer} holds weights outside [0, 1]; W = softmax(...) is a probability")
        self.cols.append(col)
        self.buf = None

    def end_layer(self, n: int) -> None:
        if self.layer is None:
            return
        _, k = self.shapes[self.layer]
        if len(self.cols) != min(k, WRITTEN_CLASSES):
            raise self.fail(n, f"epoch {self.epoch} layer {self.layer} lists {len(self.cols)} classes of "
                               f"{min(k, WRITTEN_CLASSES)}: the file is cut short or edited")
        assert self.epoch is not None
        self.epochs[self.epoch][self.layer] = np.stack(self.cols, axis=1) if k <= WRITTEN_CLASSES else None
        self.layer, self.cols = None, []

    def result(self, last_line: int) -> tuple[Weights, dict[int, tuple[int, int]], list[str]]:
        if self.buf is not None:
            raise AuthorsLogsError(f"{self.name} ends inside a list of weights: the file is cut short")
        self.end_layer(last_line)
        if not self.shapes:
            raise AuthorsLogsError(f"{self.name} holds no layer's weights")
        layers = len(self.shapes)
        out: Weights = {}
        for ep, per_layer in self.epochs.items():
            if len(per_layer) != layers:
                raise AuthorsLogsError(f"{self.name}: epoch {ep} lists {len(per_layer)} layers, other epochs {layers}")
            out[ep] = [per_layer[i] for i in range(layers)]
        k = self.shapes[0][1]
        notes = [f"their weights file holds only the first {WRITTEN_CLASSES} of the {k} classes, so W is not shown"
                 ] if k > WRITTEN_CLASSES else []
        return out, self.shapes, notes
