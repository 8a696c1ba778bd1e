"""The evolution of one layer's assignment W as an animated GIF, for slides (Pillow, no browser needed).

    data = assignment_gif(run.w_history(layer=4), class_names, layer=4)     # bytes of a GIF
    Path("w4.gif").write_bytes(data)

One frame per epoch: W (channels x classes) drawn as on the Assignments page, rows in the order of the last
epoch's strongest class (so a channel keeps its row and the viewer sees it decide), the same Blues scale capped at
the layer's largest final weight, a title with the layer and the epoch. The last frame is held longer.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ffviz.figures.assignments import channel_order, color_cap
from ffviz.figures.style import colorscale

MAX_FRAMES = 400  # a paper run has 150 epochs; beyond this, epochs are thinned evenly (first and last kept)
TITLE_H, LEFT, BOTTOM, PAD = 34, 8, 26, 8


def _palette(n: int = 256) -> np.ndarray:
    """(n, 3) uint8 RGB: the Blues scale the Assignments page uses, from 0 to its cap."""
    stops = colorscale("Blues")
    pos = np.asarray([float(s) for s, _ in stops])
    rgb = np.asarray([[int(c) for c in col[col.index("(") + 1:-1].split(",")[:3]] if col.startswith("rgb")
                      else [int(col[i:i + 2], 16) for i in (1, 3, 5)] for _, col in stops], dtype=float)
    t = np.linspace(0, 1, n)
    return np.stack([np.interp(t, pos, rgb[:, j]) for j in range(3)], axis=1).round().astype(np.uint8)


def assignment_gif(history: Mapping[int, np.ndarray], class_names: Sequence[str], *, layer: int | None = None,
                   fps: float = 2.0, cell: int | None = None, hold_last: float = 2.0) -> bytes:
    """``history``: {epoch: W (C, K)} of one layer. Returns the GIF's bytes."""
    if not history:
        raise ValueError("no epoch to animate: the run has no snapshot of this layer yet")
    if not fps > 0:
        raise ValueError(f"fps={fps} must be > 0")
    epochs = sorted(history)
    if len(epochs) > MAX_FRAMES:
        keep = np.unique(np.linspace(0, len(epochs) - 1, MAX_FRAMES).round().astype(int))
        epochs = [epochs[i] for i in keep]
    last = np.asarray(history[epochs[-1]], dtype=float)
    c, k = last.shape
    order = channel_order(last)
    zmax = color_cap(last)
    # cells big enough to see, the picture at most ~900 px tall and ~700 px wide
    ch = cell or int(np.clip(720 // max(c, 1), 2, 24))
    cw = int(np.clip(640 // max(k, 1), 4, 48))
    width, height = LEFT + k * cw + PAD, TITLE_H + c * ch + BOTTOM
    palette = _palette()
    font = ImageFont.load_default(size=16)
    small = ImageFont.load_default(size=12)
    where = f"layer {layer}" if layer is not None else "W"
    frames = []
    for epoch in epochs:
        w = np.asarray(history[epoch], dtype=float)[order]  # (C, K) rows in the last epoch's order
        idx = np.clip(w / zmax, 0, 1) * (len(palette) - 1)
        pixels = palette[idx.round().astype(int)]  # (C, K, 3)
        pixels = np.repeat(np.repeat(pixels, ch, axis=0), cw, axis=1)
        img = Image.new("RGB", (width, height), "white")
        img.paste(Image.fromarray(pixels), (LEFT, TITLE_H))
        draw = ImageDraw.Draw(img)
        draw.text((LEFT, 8), f"Assignment W, {where}, epoch {epoch}", fill=(49, 51, 63), font=font)
        step = max(1, int(np.ceil(k * 14 / (k * cw))))  # skip class labels that would overlap
        for j in range(0, k, step):
            draw.text((LEFT + j * cw + cw // 2, TITLE_H + c * ch + 4), str(class_names[j])[:3], fill=(80, 80, 80),
                      font=small, anchor="ma")
        frames.append(img.convert("P", palette=Image.Palette.ADAPTIVE, colors=255))
    durations = [int(1000 / fps)] * len(frames)
    durations[-1] = int(1000 * max(hold_last, 1 / fps))
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0,
                   optimize=False, disposal=1)
    return buf.getvalue()
