"""Checkpoints from the authors' CAW-Conv ResNet scripts, opened as ffviz runs.

    python -m ffviz import checkpoint.pth --dataset digits
    run_dir = import_authors(Path("checkpoint.pth"), "runs", dataset="cifar10")

Their scripts save the network's ``state_dict()`` (alone, or inside a dict under ``model_state_dict`` with the
``epoch`` it ended). Its layout, per CAW-Conv layer i of the ResNet pattern (METHOD.md), with C_i output channels:

    layers.{i}.conv.weight              (C_i, C_in, 3, 3)   the 3x3 conv, no bias
    layers.{i}.class_channel_weights    (C_i, K)            the assignment logits       -> ffviz's layers.{i}.A
    layers.{i}.log_temperature          ()                  log T                       -> ffviz's layers.{i}.log_T
    start_layer, end_layer              () int              the layer range their ensemble sums (kept in meta.json)

The maths is ffviz's own (model/layer.py): the same LayerNorm'd input, conv, ReLU, pooled goodness, W =
softmax(A / T_e), instance norm and shortcuts. Their temperature decay reads the layer's epoch, which the state_dict
does not hold: it comes from the checkpoint's ``epoch`` (0-based, so T_e = T * 0.995^epoch) or from
``trained_epochs`` (T_e = T * 0.995^(trained_epochs - 1), as ffviz evaluates after an epoch).

The import evaluates the network on the named dataset and writes a finished run folder with one epoch: every
layer's W, per-layer goodness and accuracy, and the layer contributions α recomputed from the validation
cross-entropy (the state_dict keeps no training losses). Files are untrusted: weights-only loading, every key and
shape checked before anything is written.
"""

from __future__ import annotations

import io
import math
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ffviz.config import RunConfig
from ffviz.data.registry import resolve_name
from ffviz.method.evaluate import collect_goodness
from ffviz.method.losses import layer_contributions
from ffviz.method.model.network import validate_widths
from ffviz.method.trainer import Trainer
from ffviz.presets import PRESETS
from ffviz.runner.run_writer import RunWriter
from ffviz.store.archive import MAX_UNPACKED_BYTES, MAX_UPLOAD_BYTES
from ffviz.store.folder import RunFolder
from ffviz.store.runs import new_run_dir, update_meta
from ffviz.store.untrusted import check_tensors, check_zip_entries

# (a, b, d) of p = a*mean + b*max - d*min, as their scripts pool goodness: MNIST's differs from the others'.
AUTHORS_POOLING = {"mnist": (0.97, 0.03, 0.03)}
DEFAULT_POOLING = (0.94, 0.06, 0.05)
_KEY = re.compile(r"^layers\.(\d+)\.(conv\.weight|conv\.bias|class_channel_weights|log_temperature)$")
_EXTRA_KEYS = ("start_layer", "end_layer")


class AuthorsCheckpointError(ValueError):
    """A file that is not a state_dict of the authors' CAW-Conv ResNet; the message says why and what to do."""


@dataclass(frozen=True)
class AuthorsLayout:
    """What a state_dict says about its network."""

    widths: tuple[int, ...]  # stage widths P
    in_channels: int
    num_classes: int
    num_layers: int
    layer_range: tuple[int, int] | None  # (start_layer, end_layer) of their ensemble, when saved


def read_authors_file(source: Path | bytes, *, name: str | None = None) -> tuple[dict[str, torch.Tensor], int | None]:
    """The state_dict in a file (a bare one, or their checkpoint dict), and the 0-based epoch it ended, if said."""
    name = name or (str(source) if isinstance(source, Path) else "the uploaded file")
    try:
        data = source.read_bytes() if isinstance(source, Path) else bytes(source)
    except OSError as e:
        raise AuthorsCheckpointError(f"cannot read {name}: {e.strerror or e}") from None
    if not data:
        raise AuthorsCheckpointError(f"{name} is empty; choose the .pth file the authors' script saved")
    if len(data) > MAX_UPLOAD_BYTES:
        raise AuthorsCheckpointError(f"{name} is {len(data) / 1e6:.0f} MB; at most {MAX_UPLOAD_BYTES // 2**20} MB")
    if data[:2] != b"PK" and data[:1] != b"\x80":  # torch.save writes a zip (or, in its legacy format, a pickle)
        raise AuthorsCheckpointError(f"{name} is not a readable PyTorch file; choose the .pth file that torch.save "
                                     f"wrote")
    try:
        # hostile until checked, as any upload (ffviz/store/untrusted.py): no compressed or oversized zip entries before
        # torch.load, no tensor claiming more than its storage after it
        if data[:2] == b"PK":
            check_zip_entries(data, max_unpacked=MAX_UNPACKED_BYTES, what=name)
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        check_tensors(obj, max_bytes=MAX_UNPACKED_BYTES, what=name)
    except pickle.UnpicklingError:
        raise AuthorsCheckpointError(f"{name} holds objects other than tensors and plain data, so it was not loaded "
                                     f"(files are loaded weights-only); save the model's state_dict, or the "
                                     f"checkpoint dict of the authors' script") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        raise AuthorsCheckpointError(f"{name} is not a readable PyTorch file (truncated or corrupt?): "
                                     f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    epoch = None
    if isinstance(obj, dict) and isinstance(obj.get("model_state_dict"), dict):
        epoch = obj.get("epoch")
        epoch = int(epoch) if isinstance(epoch, int) and epoch >= 0 else None
        obj = obj["model_state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items()):
        raise AuthorsCheckpointError(f"{name} is not a state_dict (a dict of tensors), nor a checkpoint dict holding "
                                     f"one under 'model_state_dict'")
    # DataParallel prefixes every key with "module."
    sd = {k.removeprefix("module."): v for k, v in obj.items()}
    return sd, epoch


def authors_layout(sd: dict[str, torch.Tensor]) -> AuthorsLayout:
    """Check every key and shape against the authors' ResNet layout; raise AuthorsCheckpointError naming the first
    thing that does not fit."""
    layers: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in sd.items():
        m = _KEY.match(key)
        if m:
            layers.setdefault(int(m.group(1)), {})[m.group(2)] = value
        elif key not in _EXTRA_KEYS:
            raise AuthorsCheckpointError(f"unexpected key {key!r}: not part of the authors' CAW-Conv ResNet "
                                         f"state_dict (layers.<i>.conv.weight, layers.<i>.class_channel_weights, "
                                         f"layers.<i>.log_temperature)")
    if not layers:
        raise AuthorsCheckpointError("no layers.<i>.conv.weight in this state_dict: it is not a CAW-Conv ResNet")
    n = len(layers)
    if sorted(layers) != list(range(n)) or (n - 1) % 4 or n < 5:
        raise AuthorsCheckpointError(f"layers {sorted(layers)[:20]}: the ResNet pattern has 1 + 4*S layers numbered "
                                     f"from 0 (17 for ResNet-17)")
    if any("conv.bias" in p for p in layers.values()):
        raise AuthorsCheckpointError("its convolutions have a bias; CAW-Conv layers (and ffviz's) have none")
    no_conv = [i for i, p in layers.items() if "conv.weight" not in p]
    if no_conv:
        raise AuthorsCheckpointError(f"layers.{no_conv[0]}.conv.weight is missing: the file holds part of a network")
    missing = [i for i, p in layers.items() if "class_channel_weights" not in p or "log_temperature" not in p]
    if len(missing) == n:
        raise AuthorsCheckpointError("no class_channel_weights: this state_dict comes from a static-partition "
                                     "script (fixed channel blocks, group norm), not from the learnable CAW-Conv "
                                     "scripts ffviz imports")
    if missing:
        raise AuthorsCheckpointError(f"layer {missing[0]} lacks class_channel_weights or log_temperature")
    stages = (n - 1) // 4
    widths = tuple(int(layers[1 + 4 * s]["conv.weight"].shape[0]) for s in range(stages))
    w0 = layers[0]["conv.weight"]
    if w0.ndim != 4 or tuple(w0.shape[2:]) != (3, 3):
        raise AuthorsCheckpointError(f"layers.0.conv.weight has shape {tuple(w0.shape)}; expected (C, C_in, 3, 3)")
    in_channels = int(w0.shape[1])
    k = int(layers[0]["class_channel_weights"].shape[-1])
    for i in range(n):
        s = max(0, (i - 1) // 4)
        c = widths[0] if i == 0 else widths[s]
        cin = in_channels if i == 0 else (widths[0] if s == 0 else 2 * widths[s - 1]) if (i - 1) % 4 == 0 else c
        shapes = {"conv.weight": (c, cin, 3, 3), "class_channel_weights": (c, k), "log_temperature": ()}
        for part, shape in shapes.items():
            got = tuple(layers[i][part].shape)
            if got != shape:
                raise AuthorsCheckpointError(f"layers.{i}.{part} has shape {got}; the ResNet pattern with widths "
                                             f"{widths}, {in_channels} input channels and {k} classes needs {shape}")
            if not torch.isfinite(layers[i][part]).all():
                raise AuthorsCheckpointError(f"layers.{i}.{part} holds NaN or infinite values")
    try:
        validate_widths(widths, k, 2 ** (stages - 1))
    except ValueError as e:
        raise AuthorsCheckpointError(str(e)) from None
    rng = None
    if all(k_ in sd and sd[k_].numel() == 1 for k_ in _EXTRA_KEYS):
        rng = (int(sd["start_layer"].item()), int(sd["end_layer"].item()))
    return AuthorsLayout(widths=widths, in_channels=in_channels, num_classes=k, num_layers=n, layer_range=rng)


def ffviz_state(sd: dict[str, torch.Tensor], layout: AuthorsLayout, *, temp_factor: float) -> dict[str, torch.Tensor]:
    """The same network in ffviz's names (an FFNet's state_dict for learnable mode)."""
    out: dict[str, torch.Tensor] = {}
    for i in range(layout.num_layers):
        out[f"layers.{i}.conv.weight"] = sd[f"layers.{i}.conv.weight"].float()
        out[f"layers.{i}.A"] = sd[f"layers.{i}.class_channel_weights"].float()
        out[f"layers.{i}.log_T"] = sd[f"layers.{i}.log_temperature"].float().reshape(())
        out[f"layers.{i}.temp_factor"] = torch.tensor(float(temp_factor))
    return out


def authors_config(layout: AuthorsLayout, *, dataset: str, trained_epochs: int, data_root: str = "data",
                   image_size: int = 0, device: str = "cpu") -> RunConfig:
    """The RunConfig that describes their network on this dataset: their pooling, their orthogonality scaling, float32,
    α from the validation loss (the only loss an imported checkpoint can be measured on)."""
    name = resolve_name(dataset)
    preset = next((p.name for p in PRESETS.values() if p.widths == layout.widths), None)
    a, b, d = AUTHORS_POOLING.get(name, DEFAULT_POOLING)
    return RunConfig(dataset=name, data_root=data_root, image_size=image_size,
                     channels=layout.in_channels if name == "digits" else 0, preset=preset or "resnet17",
                     widths=() if preset else layout.widths, mode="learnable", good_mean=a, good_max=b, good_min=d,
                     orth_scaling="authors", contribution_signal="val", epochs=max(1, trained_epochs),
                     device=device, bf16=False, seed=2222)  # evaluated in float32, as their scripts run


def import_authors(source: Path | bytes, runs_root: Path | str, *, dataset: str = "digits", data_root: str = "data",
                   image_size: int = 0, trained_epochs: int | None = None, name: str | None = None,
                   device: str = "cpu", filename: str | None = None, data: Any = None) -> Path:
    """Check, map, evaluate and write the authors' state_dict as a finished one-epoch run under runs_root."""
    label = filename or (source.name if isinstance(source, Path) else "upload.pth")
    sd, saved_epoch = read_authors_file(source, name=label)
    layout = authors_layout(sd)
    if trained_epochs is None:
        trained_epochs = saved_epoch + 1 if saved_epoch is not None else 1
    if trained_epochs < 1:
        raise AuthorsCheckpointError(f"trained_epochs={trained_epochs} must be at least 1")
    cfg = authors_config(layout, dataset=dataset, trained_epochs=trained_epochs, data_root=data_root,
                         image_size=image_size, device=device)
    trainer = Trainer(cfg, data=data)
    got = (trainer.data.in_channels, trainer.data.num_classes)
    if got != (layout.in_channels, layout.num_classes):
        raise AuthorsCheckpointError(f"{cfg.dataset} has {got[0]} input channels and {got[1]} classes; this "
                                     f"checkpoint was trained on {layout.in_channels} channels and "
                                     f"{layout.num_classes} classes. Name the dataset it was trained on.")
    try:
        validate_widths(layout.widths, layout.num_classes, trainer.data.image_size)
    except ValueError as e:
        raise AuthorsCheckpointError(f"{e}; pass another image size") from None
    temp_factor = cfg.temp_decay ** (trained_epochs - 1)
    trainer.model.load_state_dict(ffviz_state(sd, layout, temp_factor=temp_factor))
    trainer.epoch = trained_epochs
    # α = softmax(-L_val / τ): the state_dict carries no training losses, so the validation split sets them.
    val = collect_goodness(trainer.model, trainer.data.val_x, batch_size=cfg.eval_batch_size, device=trainer.device)
    val_y = trainer.data.val_y.cpu()
    ce = torch.tensor([F.cross_entropy(g, val_y, label_smoothing=cfg.label_smoothing).item() for g in val.g])
    trainer.alpha = layer_contributions(ce, cfg.contribution_tau)
    title = name or f"authors' {Path(label).stem}"
    run_dir = new_run_dir(runs_root, cfg, title)
    writer = RunWriter(run_dir, name=title)
    trainer.callbacks = [writer]
    writer.on_start(trainer)
    trainer.evaluate_epoch()
    test = trainer.test()
    writer.on_end(trainer, "finished", test)
    RunFolder(run_dir).checkpoint("last").unlink(missing_ok=True)  # final.pt holds the same weights
    temps = [math.exp(float(sd[f"layers.{i}.log_temperature"])) for i in range(layout.num_layers)]
    update_meta(run_dir, imported_from=label, source_format="authors' CAW-Conv ResNet state_dict",
                authors_layer_range=list(layout.layer_range) if layout.layer_range else None,
                note=f"imported from the authors' scripts: one epoch ({trained_epochs}) to show, temperature decay "
                     f"0.995^{trained_epochs - 1}, α from the validation loss; base temperatures "
                     f"{min(temps):.3g}-{max(temps):.3g}")
    return run_dir
