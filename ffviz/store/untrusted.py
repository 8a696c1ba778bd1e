"""Checks for files that come from outside the server (uploads): each returns quietly or raises ValueError saying what
is wrong, and each looks before it leaps, so a hostile file costs neither memory nor CPU to refuse.

    check_zip_entries(data, max_unpacked=...)   # a torch checkpoint: entries stored, sizes honest, before torch.load
    check_tensors(payload, max_bytes=...)       # after torch.load: no zero-stride views of a tiny storage
    check_npz(path, max_bytes=...)              # a snapshot: keys, dtypes, shapes, sizes, read from the headers
    check_probes(path)                          # probes.npz: one uint8 image stack, every dimension bounded
    check_record(record)                        # a run record: every field of the type the schema states
    meta = clean_meta(raw)                      # meta.json: known keys of the right type only (readers never break)
    check_config_value(cfg)                     # a config: plain data, small and shallow whatever its containers

The attacks these close (all found by a review that called the real functions with crafted files): deflate-compressed
zip entries that expand ~1,000x inside torch.load or np.load, zip members that lie about their size, a tensor whose
zero strides make a 4-byte storage look like gigabytes (copied in full on Continue), JSON nested 100,000 deep, records
and meta values of the wrong type that crash every page that reads them.
"""

from __future__ import annotations

import dataclasses
import io
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ffviz import records
from ffviz.store.folder import STATES

MAX_LIST = 100_000  # longest list a record may hold (per-layer lists; channels per class)
MAX_TEXT = 10_000  # longest string a record or meta.json may hold
MAX_ITEMS = 100_000  # containers and values one checkpoint may hold (an ffviz one: a few hundred)
# The dimensions a page loops over, bounded: channels of a layer (the server's widest network is 100,000 wide, see
# ffviz.server.limits.check_run), classes, probe images, layers. A (C, 0) array costs no bytes whatever C is, so the
# bytes a file holds bound nothing: each dimension is checked against these.
MAX_CHANNELS = 100_000
MAX_CLASSES = 1_000
MAX_PROBES = 10_000
MAX_LAYERS = 1_000
MAX_PIXELS = 512  # a probe image's side
MAX_INT = 2**53  # a whole number a record or meta.json may hold: beyond it a table's column cannot hold it exactly


# ----------------------------------------------------------------------------------------------------- zip files
def check_zip_entries(source: bytes | Path, *, max_unpacked: int, what: str = "the file") -> None:
    """Every entry stored uncompressed (as torch.save and np.savez write them) and the total within max_unpacked:
    what a reader unpacks is then no larger than the file itself."""
    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ValueError(f"{what} is not a readable zip file ({e})") from None
    total = 0
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            raise ValueError(f"{what} has a compressed entry ({info.filename!r}); ffviz writes its checkpoints and "
                             "snapshots uncompressed and accepts only those")
        total += info.file_size
    if total > max_unpacked:
        raise ValueError(f"{what} holds {total / 2**20:.0f} MiB; at most {max_unpacked / 2**20:.0f} MiB is accepted")


# ----------------------------------------------------------------------------------------------------- pickles
_MAKES = {"EMPTY_LIST": "list", "LIST": "list", "EMPTY_DICT": "dict", "DICT": "dict"}
_PUTS = ("PUT", "BINPUT", "LONG_BINPUT")
_GETS = ("GET", "BINGET", "LONG_BINGET")


def check_pickle_graph(source: bytes, *, what: str = "the checkpoint", max_ops: int = 10 * MAX_ITEMS) -> None:
    """Before torch is even imported: the checkpoint's pickle (its data.pkl) reads no list or dict a second time
    from the pickle's memo. That is how a reference graph is written (lists holding the one below twice: a few
    hundred bytes, 2^depth paths for any walk); ffviz's checkpoints never do it. Also at most max_ops opcodes."""
    import pickletools

    try:
        with zipfile.ZipFile(io.BytesIO(source)) as z:
            names = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(names) != 1:
                return  # not a torch zip: torch.load says what it is
            pickle = z.read(names[0])
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # check_zip_entries and torch.load report it
    kinds: dict[int, str] = {}
    made: str | None = None
    try:
        for n, (op, arg, _) in enumerate(pickletools.genops(pickle)):
            if n > max_ops:
                raise ValueError(f"{what}'s pickle is longer than {max_ops:,} steps; an ffviz checkpoint's is short")
            if op.name in _PUTS or op.name == "MEMOIZE":
                index = arg if op.name != "MEMOIZE" else len(kinds)
                kinds[int(index)] = made or ""
            elif op.name in _GETS and kinds.get(int(arg)):
                raise ValueError(f"{what} holds a {kinds[int(arg)]} reached twice (a reference graph); ffviz never "
                                 "writes one")
            made = _MAKES.get(op.name)
    except (ValueError, IndexError) as e:
        if "reached twice" in str(e) or "longer than" in str(e):
            raise
        return  # a malformed pickle: torch.load refuses it with its own message


# ----------------------------------------------------------------------------------------------------- tensors
def check_tensors(payload: Any, *, max_bytes: int, what: str = "the checkpoint", max_items: int = MAX_ITEMS) -> None:
    """Every tensor in a loaded checkpoint owns the bytes it claims (no zero or overlapping strides over a small
    storage) and all together stay within max_bytes. The walk visits each container once: a list reached a second
    time (a reference graph, whose paths double with each level; ffviz never writes one) is refused at once, and so
    is a payload of more than max_items containers and values."""
    import torch

    total = 0
    seen: set[int] = set()
    stack = [payload]
    items = 0
    while stack:
        x = stack.pop()
        items += 1
        if items > max_items:
            raise ValueError(f"{what} holds more than {max_items:,} values; an ffviz checkpoint holds a few hundred")
        if isinstance(x, (dict, list, tuple, torch.Tensor)):
            if id(x) in seen:
                if isinstance(x, (dict, list)):  # tuples and tensors may be shared (an empty tuple, tied weights)
                    raise ValueError(f"{what} holds a {type(x).__name__} reached twice (a reference graph); "
                                     "ffviz never writes one")
                continue  # walked once already
            seen.add(id(x))
        if isinstance(x, dict):
            stack.extend(x.values())
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
        elif isinstance(x, torch.Tensor):
            nbytes = x.numel() * x.element_size()
            if x.numel() > 1 and (any(s == 0 for s, n in zip(x.stride(), x.shape, strict=True) if n > 1)
                                  or nbytes > x.untyped_storage().nbytes()):
                raise ValueError(f"{what} holds a tensor of shape {tuple(x.shape)} that repeats a smaller storage; "
                                 "ffviz never writes one")
            total += nbytes
            if total > max_bytes:
                raise ValueError(f"{what}'s tensors exceed {max_bytes / 2**20:.0f} MiB")


# ----------------------------------------------------------------------------------------------------- snapshots
_SNAPSHOT_FIXED = {"epoch": 0, "num_layers": 0, "probe_index": 1, "probe_y": 1, "val_pred": 1, "val_y": 1}
_SNAPSHOT_LAYER = {"w": 2, "g": 2, "p": 2}  # w_i (C, K), g_i (N, K), p_i (N, C)


def check_npz(path: Path, *, max_bytes: int) -> tuple[int, int]:
    """A snapshot as RunWriter writes it: stored entries; the known keys; numeric dtypes; each array's shape (from
    its .npy header, without reading the data) of the right rank and matching its entry's size; num_layers layers.
    Returns (the epoch it holds, its number of layers)."""
    check_zip_entries(Path(path), max_unpacked=max_bytes, what=Path(path).name)
    arrays: dict[str, tuple[np.dtype, tuple[int, ...]]] = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            key = info.filename.removesuffix(".npy")
            if not info.filename.endswith(".npy") or not _snapshot_key(key):
                raise ValueError(f"{Path(path).name} holds {info.filename!r}, which is not part of a snapshot")
            with z.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version not in ((1, 0), (2, 0), (3, 0)):
                    raise ValueError(f"{Path(path).name}: {key} has an unknown .npy version {version}")
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, dtype = read(f, max_header_size=10_000)
                header = f.tell()
            if dtype.kind not in "biuf" or dtype.hasobject:
                raise ValueError(f"{Path(path).name}: {key} has dtype {dtype}; snapshots hold numbers only")
            if info.file_size != header + math.prod(shape) * dtype.itemsize:
                raise ValueError(f"{Path(path).name}: {key}'s size does not match its shape {shape}")
            arrays[key] = (dtype, shape)
    missing = [k for k in _SNAPSHOT_FIXED if k not in arrays]
    if missing:
        raise ValueError(f"{Path(path).name} lacks {', '.join(missing)}")
    for key, rank in _SNAPSHOT_FIXED.items():
        if len(arrays[key][1]) != rank:
            raise ValueError(f"{Path(path).name}: {key} has shape {arrays[key][1]}, expected {rank} dimension(s)")
    with np.load(path) as a:  # the two scalars, now known to be small numbers
        layers, epoch = _whole(a["num_layers"]), _whole(a["epoch"])
    if not 0 < layers <= (len(arrays) - len(_SNAPSHOT_FIXED)) // len(_SNAPSHOT_LAYER):
        raise ValueError(f"{Path(path).name}: num_layers={layers} does not match the arrays it holds")
    if layers > MAX_LAYERS:
        raise ValueError(f"{Path(path).name}: num_layers={layers} is more than the {MAX_LAYERS} a snapshot may hold")
    for i in range(layers):
        for prefix, rank in _SNAPSHOT_LAYER.items():
            key = f"{prefix}_{i}"
            if key not in arrays or len(arrays[key][1]) != rank:
                raise ValueError(f"{Path(path).name}: {key} is missing or not {rank}-dimensional")
    _check_snapshot_dims(Path(path).name, {k: shape for k, (_, shape) in arrays.items()}, layers)
    extra = [k for k in arrays if k not in _SNAPSHOT_FIXED and int(k.split("_")[1]) >= layers]
    if extra:
        raise ValueError(f"{Path(path).name} holds {', '.join(extra)} beyond its {layers} layers")
    return epoch, layers


def _whole(a: np.ndarray) -> int:
    """A snapshot's scalar as a whole number within MAX_INT (a float NaN or 1e300 is no epoch)."""
    x = a.item() if a.size == 1 else None
    if not isinstance(x, (int, float)) or x != x or abs(x) > MAX_INT or int(x) != x:
        raise ValueError(f"a snapshot scalar is {str(x)[:30]}, not a whole number")
    return int(x)


def _check_snapshot_dims(name: str, shapes: dict[str, tuple[int, ...]], layers: int) -> None:
    """Every dimension a page loops over at least 1 and within its bound, and the arrays agreeing with each other:
    w_i (C_i, K), g_i (N, K), p_i (N, C_i), probe_index and probe_y (N,), val_pred and val_y (M,)."""
    k = shapes["w_0"][1]
    n = shapes["probe_index"][0]
    if not 1 <= k <= MAX_CLASSES:
        raise ValueError(f"{name}: w_0 has shape {shapes['w_0']}: {k} classes, expected 1 to {MAX_CLASSES:,}")
    if not n <= MAX_PROBES or shapes["probe_y"] != (n,):
        raise ValueError(f"{name}: probe_index {shapes['probe_index']} and probe_y {shapes['probe_y']} must be "
                         f"the same length, at most {MAX_PROBES:,}")
    if shapes["val_pred"] != shapes["val_y"] or shapes["val_y"][0] > 10_000_000:
        raise ValueError(f"{name}: val_pred {shapes['val_pred']} and val_y {shapes['val_y']} must match")
    for i in range(layers):
        c = shapes[f"w_{i}"][0]
        expected = {f"w_{i}": (c, k), f"g_{i}": (n, k), f"p_{i}": (n, c)}
        if not 1 <= c <= MAX_CHANNELS:
            raise ValueError(f"{name}: w_{i} has shape {shapes[f'w_{i}']}: {c} channels, expected 1 to "
                             f"{MAX_CHANNELS:,}")
        for key, shape in expected.items():
            if shapes[key] != shape:
                raise ValueError(f"{name}: {key} has shape {shapes[key]}, expected {shape} (layer {i}: {c} "
                                 f"channels, {k} classes, {n} probe images)")


def check_probes(path: Path, *, max_bytes: int = 64 * 2**20) -> None:
    """probes.npz as RunWriter writes it: one uint8 array ``pixels`` of shape (N, H, W) or (N, H, W, 3), each
    dimension bounded, its size as its header says (read from the header, before any pixel is unpacked)."""
    name = Path(path).name
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if [i.filename for i in infos] != ["pixels.npy"]:
                raise ValueError(f"{name} must hold one array, pixels; it holds {[i.filename for i in infos][:5]}")
            info = infos[0]
            if info.file_size > max_bytes:
                raise ValueError(f"{name} unpacks to {info.file_size / 2**20:.0f} MiB; probe images take a few MB")
            with z.open(info) as f:
                version = np.lib.format.read_magic(f)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _, dtype = read(f, max_header_size=10_000)
                header = f.tell()
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f"{name} is not a readable npz file ({e})") from None
    if dtype != np.uint8 or len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (1, 3)):
        raise ValueError(f"{name}: pixels has dtype {dtype} and shape {shape}; expected uint8 (N, H, W[, 3])")
    if shape[0] > MAX_PROBES or not all(1 <= d <= MAX_PIXELS for d in shape[1:3]):
        raise ValueError(f"{name}: pixels has shape {shape}; at most {MAX_PROBES:,} images of at most "
                         f"{MAX_PIXELS} px a side")
    if info.file_size != header + math.prod(shape):
        raise ValueError(f"{name}: pixels' size does not match its shape {shape}")


def _snapshot_key(key: str) -> bool:
    if key in _SNAPSHOT_FIXED:
        return True
    prefix, _, index = key.partition("_")
    return prefix in _SNAPSHOT_LAYER and index.isdigit() and len(index) <= 4


# ----------------------------------------------------------------------------------------------------- records
def check_record(record: Any) -> None:
    """Every field of a run record of the type its dataclass states (a float may be written as an int)."""
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if not _is(value, str(f.type)):
            raise ValueError(f"{record.kind} record: {f.name}={_short(value)} is not {f.type}")


def parse_record(d: Any) -> Any:
    """A record from a parsed JSON line, type-checked; ValueError for anything else."""
    if not isinstance(d, dict):
        raise ValueError(f"a record line is not an object: {_short(d)}")
    try:
        rec = records.from_dict(d)
    except TypeError as e:  # a required field missing
        raise ValueError(f"{d.get('kind')} record: {e}") from None
    check_record(rec)
    return rec


def _is(value: Any, kind: str) -> bool:
    kind = kind.replace(" ", "")
    if kind.endswith("|None"):
        return value is None or _is(value, kind[:-5])
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_INT
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str) and len(value) <= MAX_TEXT
    if kind.startswith("list[") and kind.endswith("]"):
        inner = kind[5:-1]
        return isinstance(value, list) and len(value) <= MAX_LIST and all(_is(v, inner) for v in value)
    if kind == "dict[str,list[Any]]":
        return (isinstance(value, dict) and len(value) <= 100 and all(
            isinstance(k, str) and isinstance(v, list) and len(v) <= 2 and all(_scalar(x) for x in v)
            for k, v in value.items()))
    if kind.startswith("dict[str,") and kind.endswith("]"):  # e.g. an epoch's regularizer terms by name
        return isinstance(value, dict) and len(value) <= 100 and all(
            isinstance(k, str) and len(k) <= MAX_TEXT and _is(v, kind[9:-1]) for k, v in value.items())
    return False


def _scalar(x: Any) -> bool:
    return x is None or isinstance(x, (bool, int, float)) or (isinstance(x, str) and len(x) <= MAX_TEXT)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ----------------------------------------------------------------------------------------------------- configs
MAX_CONFIG_ITEMS = 1_000  # containers and values in a config (an ffviz one: ~60)
MAX_CONFIG_DEPTH = 4  # a config is flat; widths is one list deep


def check_config_value(value: Any, *, what: str = "the config") -> None:
    """A config as plain data, small and shallow whatever its containers (dicts, lists, tuples, sets): a tuple that
    holds the one below it twice, 24 deep, is 278 bytes in a pickle and 96 MiB once written as text."""
    stack = [(value, 0)]
    items = 0
    while stack:
        x, depth = stack.pop()
        items += 1
        if items > MAX_CONFIG_ITEMS or depth > MAX_CONFIG_DEPTH:
            raise ValueError(f"{what} is nested deeper than {MAX_CONFIG_DEPTH} or holds more than "
                             f"{MAX_CONFIG_ITEMS:,} values; an ffviz config is one flat mapping")
        if isinstance(x, dict):
            stack.extend((v, depth + 1) for kv in x.items() for v in kv)
        elif isinstance(x, (list, tuple, set, frozenset)):
            stack.extend((v, depth + 1) for v in x)
        elif isinstance(x, str):
            if len(x) > 10_000:
                raise ValueError(f"{what} holds a text of {len(x):,} characters; at most 10,000")
        elif not (x is None or isinstance(x, (bool, int, float))):
            raise ValueError(f"{what} holds a {type(x).__name__}; a config holds numbers, text and lists only")
        elif isinstance(x, int) and abs(x) > MAX_INT:
            raise ValueError(f"{what} holds the number {str(x)[:30]}…, beyond {MAX_INT:,}")


# ----------------------------------------------------------------------------------------------------- meta.json
META_TYPES = {
    "name": "str", "status": "str", "created": "str", "device": "str", "num_parameters": "int|None",
    "num_layers": "int", "widths": "list[int]", "dataset": "str", "num_classes": "int", "class_names": "list[str]",
    "in_channels": "int", "image_size": "int", "split_sizes": "list[int]", "epochs_done": "int",
    "pid": "int|None", "error": "str|None", "train_time": "float|None", "ended": "str", "uploaded": "str",
    "note": "str", "owner": "str", "continued_from": "str",
    # a run imported from the authors' logs (ffviz/interop/authors_logs.py): the epochs with a W, where its config
    # came from
    "snapshot_epochs": "list[int]", "config_sources": "dict[str,str]", "imported_from": "str", "source_format": "str",
}


def meta_problems(meta: Any) -> list[str]:
    """What is wrong with a meta.json's known keys (empty when nothing is)."""
    if not isinstance(meta, dict):
        return ["meta.json is not an object"]
    out = [f"{k}={_short(v)} is not {META_TYPES[k]}" for k, v in meta.items()
           if k in META_TYPES and not _is(v, META_TYPES[k])]
    if isinstance(meta.get("status"), str) and meta["status"] not in STATES:
        out.append(f"status={_short(meta['status'])} is not one of {', '.join(STATES)}")
    return out


def clean_meta(meta: Any) -> dict[str, Any]:
    """meta.json as readers may trust it: a known key with a value of the wrong type is dropped (its reader then
    falls back as for a missing key); other keys pass unchanged. Never raises."""
    if not isinstance(meta, dict):
        return {}
    out = {k: v for k, v in meta.items() if k not in META_TYPES or _is(v, META_TYPES[k])}
    if out.get("status") not in STATES:
        out.pop("status", None)
    return out
