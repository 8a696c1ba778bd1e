"""Hostile uploads, built in the test's tmp folder from a real run (none is committed): each reproduces one attack a
review found against the upload path, small on the wire and costly once unpacked or parsed.

    files = build_all(run_dir, tmp_path)     # {attack name: path of the file a user would upload}
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import torch

from ffviz.store.archive import export_archive

BOMB_BYTES = 64 * 1024 * 1024  # what a bomb expands to: tiny zipped, 64 MiB in memory


def _archive_with(run: Path, replace: dict[str, bytes], *, compress: bool = True, drop: tuple[str, ...] = ()) -> bytes:
    """The run's archive with some members' contents replaced (or added, or dropped), deflate-compressed."""
    src = zipfile.ZipFile(io.BytesIO(export_archive(run)))
    top = src.namelist()[0].split("/")[0]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        for name in src.namelist():
            rel = name.split("/", 1)[1]
            if rel not in replace and rel not in drop:
                z.writestr(name, src.read(name))
        for rel, data in replace.items():
            z.writestr(f"{top}/{rel}", data)
    return out.getvalue()


def _checkpoint(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "final.pt", weights_only=True)


def _save(payload: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


def compressed_checkpoint(run: Path) -> bytes:
    """A real checkpoint plus 64 MiB of zeros, its zip entries deflated: ~1,000x expansion inside torch.load."""
    ck = _checkpoint(run)
    ck["model"]["bomb"] = torch.zeros(BOMB_BYTES // 4)
    raw = zipfile.ZipFile(io.BytesIO(_save(ck)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in raw.infolist():
            z.writestr(info.filename, raw.read(info.filename))
    return out.getvalue()


def zero_stride_checkpoint(run: Path) -> bytes:
    """One float that claims to be 2^28 of them (1 GiB), by zero strides: copied in full on Continue."""
    ck = _checkpoint(run)
    ck["model"]["wide"] = torch.zeros(1).expand(2 ** 28)
    return _save(ck)


def bad_epoch_checkpoint(run: Path) -> bytes:
    """A valid checkpoint whose epoch and parameter count are not numbers (left a folder stuck at "queued")."""
    ck = _checkpoint(run)
    ck["epoch"], ck["num_parameters"] = "many", [1, 2]
    return _save(ck)


def npz_bomb(run: Path) -> bytes:
    """A snapshot whose w_0 is 64 MiB of zeros, deflated: it expands when anyone opens a view."""
    with np.load(run / "snapshots" / "epoch_0001.npz") as a:
        arrays = dict(a)
    arrays["w_0"] = np.zeros((BOMB_BYTES // 4 // 10, 10), dtype=np.float32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return _archive_with(run, {"snapshots/epoch_0001.npz": buf.getvalue()})


def npz_object(run: Path) -> bytes:
    """A snapshot holding a pickled object array (stored, uncompressed)."""
    with np.load(run / "snapshots" / "epoch_0001.npz") as a:
        arrays = dict(a)
    arrays["val_y"] = np.array([{"x": 1}, None], dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return _archive_with(run, {"snapshots/epoch_0001.npz": buf.getvalue()})


def npz_lying_shape(run: Path) -> bytes:
    """A snapshot whose w_0 header claims 10^10 floats (40 GB) with 40 bytes behind it."""
    with np.load(run / "snapshots" / "epoch_0001.npz") as a:
        arrays = dict(a)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    fake = io.BytesIO()
    np.lib.format.write_array_header_1_0(fake, {"descr": "<f4", "fortran_order": False, "shape": (10 ** 6, 10 ** 4)})
    fake.write(b"\0" * 40)
    raw = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name in raw.namelist():
            z.writestr(name, fake.getvalue() if name == "w_0.npy" else raw.read(name))
    return _archive_with(run, {"snapshots/epoch_0001.npz": out.getvalue()})


def npz_many_layers(run: Path) -> bytes:
    """A snapshot that claims 10^12 layers: a loop over them would never end."""
    with np.load(run / "snapshots" / "epoch_0001.npz") as a:
        arrays = dict(a)
    arrays["num_layers"] = np.array(10 ** 12)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return _archive_with(run, {"snapshots/epoch_0001.npz": buf.getvalue()})


def huge_jsonl(run: Path) -> bytes:
    """A 40 MiB batches.jsonl of valid records that zips to a few hundred KB: 276 MiB and 2.3 s to parse."""
    line = (run / "batches.jsonl").read_bytes().splitlines()[0] + b"\n"
    return _archive_with(run, {"batches.jsonl": line * (40 * 1024 * 1024 // len(line))})


def meta_status_not_text(run: Path) -> bytes:
    """meta.json whose status is an object: crashed the sidebar's run label on every page, for everyone."""
    meta = json.loads((run / "meta.json").read_text())
    meta.update(status={"evil": 1}, name=["not", "text"], epochs_done="lots", created=12)
    return _archive_with(run, {"meta.json": json.dumps(meta).encode()})


def wrong_test_json(run: Path) -> bytes:
    """test.json whose accuracy is a string: crashed the Runs, Compare and Gap pages."""
    test = json.loads((run / "test.json").read_text())
    test.update(acc_alpha="high", layer_acc={"a": 1})
    return _archive_with(run, {"test.json": json.dumps(test).encode()})


def epoch_record_wrong_types(run: Path) -> bytes:
    """An epoch record whose accuracy is a list and whose epoch is text."""
    lines = (run / "epochs.jsonl").read_text().splitlines()
    rec = json.loads(lines[-1])
    rec.update(acc_alpha=[1, 2], epoch="one", val_acc="all")
    return _archive_with(run, {"epochs.jsonl": "\n".join([*lines[:-1], json.dumps(rec)]).encode() + b"\n"})


def deep_json(run: Path) -> bytes:
    """meta.json nested 100,000 deep: RecursionError in the JSON parser."""
    return _archive_with(run, {"meta.json": b"[" * 100_000 + b"]" * 100_000})


def deep_jsonl(run: Path) -> bytes:
    """A record line nested 100,000 deep."""
    return _archive_with(run, {"events.jsonl": b"[" * 100_000 + b"]" * 100_000 + b"\n"})


def lying_member(run: Path) -> bytes:
    """An archive whose epochs.jsonl says (in the zip directory) it is 10 bytes: BadZipFile while unpacking."""
    data = bytearray(export_archive(run))
    z = zipfile.ZipFile(io.BytesIO(bytes(data)))
    name = next(n for n in z.namelist() if n.endswith("/epochs.jsonl"))
    encoded = name.encode()
    # central directory: signature, ..., uncompressed size at +24, name length at +28, name at +46
    pos = 0
    while (pos := data.find(b"PK\x01\x02", pos)) >= 0:
        n = struct.unpack("<H", data[pos + 28:pos + 30])[0]
        if bytes(data[pos + 46:pos + 46 + n]) == encoded:
            data[pos + 24:pos + 28] = struct.pack("<I", 10)
        pos += 4
    return bytes(data)


def future_dated(run: Path) -> bytes:
    """A run whose meta.json says it was made in 2999: retention by `created` would never delete it."""
    meta = json.loads((run / "meta.json").read_text())
    meta.update(created="2999-01-01T00:00:00", uploaded="2999-01-01T00:00:00")
    return _archive_with(run, {"meta.json": json.dumps(meta).encode()})


def npz_zero_width(run: Path) -> bytes:
    """A snapshot whose w_0 has shape (2*10^7, 0): zero bytes, yet a page that lists its channels builds a list of
    twenty million (a real server grew from 98 to 864 MiB)."""
    with np.load(run / "snapshots" / "epoch_0001.npz") as a:
        arrays = dict(a)
    arrays["w_0"] = np.zeros((20_000_000, 0), dtype=np.float32)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return _archive_with(run, {"snapshots/epoch_0001.npz": buf.getvalue()})


def reference_graph(depth: int = 60) -> list:
    """Lists that each hold the one below twice: a few hundred bytes pickled, 2^depth paths for a walk that does not
    remember where it has been."""
    node: list = [0]
    for _ in range(depth):
        node = [node, node]
    return node


def reference_graph_checkpoint(run: Path, depth: int = 60) -> bytes:
    """A real checkpoint with a reference graph 60 deep beside its weights (1.7 KB at depth 22 took 4.6 s to
    check; at depth 60 the check never ended)."""
    ck = _checkpoint(run)
    ck["history"] = reference_graph(depth)
    return _save(ck)


def probes_bomb(run: Path) -> bytes:
    """A probes.npz whose pixels claim 10^5 images of 512 x 512 (26 GB) behind a deflated stream of zeros."""
    fake = io.BytesIO()
    np.lib.format.write_array_header_1_0(fake, {"descr": "|u1", "fortran_order": False, "shape": (100_000, 512, 512)})
    fake.write(b"\0" * 1024)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("pixels.npy", fake.getvalue())
    return _archive_with(run, {"probes.npz": out.getvalue()})


def big_config_without_probes(run: Path) -> bytes:
    """A valid run whose config asks for its dataset at 128 px in 3 channels, without probes.npz: a page that loads
    the dataset to show probe images cost the server +830 MiB. Accepted as an upload (nothing in it is wrong); the
    pages must not load its dataset."""
    src = zipfile.ZipFile(io.BytesIO(export_archive(run)))
    top = src.namelist()[0].split("/")[0]
    cfg = json.loads(src.read(f"{top}/config.json"))
    cfg.update(image_size=128, channels=3)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in src.namelist():
            if name.endswith("/probes.npz"):
                continue
            z.writestr(name, json.dumps(cfg).encode() if name.endswith("/config.json") else src.read(name))
    return out.getvalue()


def many_snapshots(run: Path) -> bytes:
    """5,000 snapshot files (epochs 2 to 5,001), each a few bytes: the pages loop over every snapshot a run has.
    Refused by their number, before any is read."""
    return _archive_with(run, {f"snapshots/epoch_{i:04d}.npz": b"PK" for i in range(2, 5002)})


# ----------------------------------------------------------------------------------------------------- third round
# Records of the right types that do not add up: each passed the second round's checks and broke a page for everyone.
def huge_parameter_count(run: Path) -> bytes:
    """meta.json's num_parameters 2**70: the Runs table could not hold it, and the page lost its Delete button."""
    meta = json.loads((run / "meta.json").read_text())
    meta["num_parameters"] = 2 ** 70
    return _archive_with(run, {"meta.json": json.dumps(meta).encode()})


def seed_copy(run: Path, acc: float) -> bytes:
    """A copy of the run with another seed and the test vote ``acc``: it joined the shipped run's seed group."""
    cfg = json.loads((run / "config.json").read_text())
    cfg["seed"] = int(cfg.get("seed", 0)) + 1000
    test = json.loads((run / "test.json").read_text())
    test["acc_alpha"] = acc
    return _archive_with(run, {"config.json": json.dumps(cfg).encode(), "test.json": json.dumps(test).encode()})


def nan_seed_copy(run: Path) -> bytes:
    """Input 2: NaN is allowed (it marks what a run does not have); every figure must draw it as missing."""
    return seed_copy(run, float("nan"))


def infinite_seed_copy(run: Path) -> bytes:
    return seed_copy(run, float("inf"))


def _epoch_records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "epochs.jsonl").read_text().splitlines() if line.strip()]


def _jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def short_layer_acc(run: Path) -> bytes:
    """test.json's layer_acc one layer long in a run of more: the Gap page's per-layer chart raised."""
    test = json.loads((run / "test.json").read_text())
    test["layer_acc"] = test["layer_acc"][:1]
    return _archive_with(run, {"test.json": json.dumps(test).encode()})


def cut_layer_lists(run: Path) -> bytes:
    """Input 3: every per-layer list of every epoch cut to one entry: Assignments, Regularizers, Goodness raised."""
    records = _epoch_records(run)
    for r in records:
        for k, v in r.items():
            if isinstance(v, list):
                r[k] = v[:1]
            elif isinstance(v, dict) and k in ("train_terms", "train_terms_w"):
                r[k] = {name: terms[:1] for name, terms in v.items()}
    return _archive_with(run, {"epochs.jsonl": _jsonl(records)})


def missing_snapshot(run: Path) -> bytes:
    """Input 3: the snapshot of an epoch the records list is missing."""
    last = _epoch_records(run)[-1]["epoch"]
    return _archive_with(run, {}, drop=(f"snapshots/epoch_{last:04d}.npz",))


def epochs_numbered(numbers: list[int]):
    def build(run: Path) -> bytes:
        records = _epoch_records(run)
        for r, n in zip(records, numbers, strict=False):
            r["epoch"] = n
        return _archive_with(run, {"epochs.jsonl": _jsonl(records)})
    return build


def tuple_graph(depth: int) -> tuple:
    """Tuples that each hold the one below twice: a few hundred bytes pickled, 2^depth long once printed."""
    node: tuple = ("x",)
    for _ in range(depth):
        node = (node, node)
    return node


def tuple_graph_config_checkpoint(run: Path, depth: int = 24) -> bytes:
    """Input 7: a checkpoint whose config data_root is a tuple graph 24 deep: 278 KB, a 96 MiB config.json once
    written (the second round refused lists and dicts reached twice, not tuples)."""
    ck = _checkpoint(run)
    ck["config"] = {**ck["config"], "data_root": tuple_graph(depth)}
    return _save(ck)


# name -> (builder, file name, what the refusal says)
ATTACKS = {
    "compressed checkpoint": (compressed_checkpoint, "bomb.pt", "compressed entry"),
    "zero-stride tensor": (zero_stride_checkpoint, "wide.pt", "repeats a smaller storage"),
    "bad epoch in checkpoint": (bad_epoch_checkpoint, "epoch.pt", "epoch="),
    "npz compression bomb": (npz_bomb, "npzbomb.zip", "compressed entry"),
    "npz object array": (npz_object, "npzobj.zip", "dtype object"),
    "npz shape that lies": (npz_lying_shape, "npzshape.zip", "does not match its shape"),
    "npz with 10^12 layers": (npz_many_layers, "npzlayers.zip", "does not match the arrays"),
    "40 MiB batches.jsonl": (huge_jsonl, "jsonl.zip", "max_records_bytes"),
    "meta.json status not text": (meta_status_not_text, "meta.zip", "status="),
    "test.json wrong types": (wrong_test_json, "test.zip", "acc_alpha="),
    "epoch record wrong types": (epoch_record_wrong_types, "epochs.zip", "epochs.jsonl line"),
    "JSON nested 100k deep": (deep_json, "deep.zip", "nests too deeply"),
    "JSON line nested 100k deep": (deep_jsonl, "deepline.zip", "events.jsonl line 1"),
    "zip member lying about its size": (lying_member, "liar.zip", "could not be read"),
    "(C, 0) snapshot": (npz_zero_width, "zerowidth.zip", "w_0 has shape (20000000, 0)"),
    "reference-graph checkpoint": (reference_graph_checkpoint, "graph.pt", "reached twice"),
    "probes.npz bomb": (probes_bomb, "probesbomb.zip", "probes.npz"),
    "5,000 snapshots": (many_snapshots, "snapshots.zip", "files in snapshots"),
    # third round
    "num_parameters 2**70": (huge_parameter_count, "params.zip", "num_parameters="),
    "infinite test vote": (infinite_seed_copy, "infinite.zip", "must be finite"),
    "layer_acc of one layer": (short_layer_acc, "layeracc.zip", "entries for a run of"),
    "per-layer lists of one entry": (cut_layer_lists, "cutlayers.zip", "number of layers"),
    "snapshot missing": (missing_snapshot, "nosnap.zip", "no snapshot for epoch"),
    "epochs 10^18": (epochs_numbered([0, 10 ** 18]), "epochbig.zip", "epochs.jsonl line"),
    "epochs -5": (epochs_numbered([-5, 1]), "epochneg.zip", "not increasing"),
    "epochs repeated": (epochs_numbered([1, 1]), "epochtwice.zip", "not increasing"),
    "tuple-graph config": (tuple_graph_config_checkpoint, "tuples.pt", "nested deeper"),
}
# Inputs 1-3 as an older server accepted them: placed in the uploads folder without a check (unpack_unchecked), for
# the pages to draw them as one message and the teacher to delete them
UNCHECKED = {"num_parameters 2**70": huge_parameter_count, "per-layer lists of one entry": cut_layer_lists,
             "snapshot missing": missing_snapshot, "epochs repeated": epochs_numbered([1, 1])}


def unpack_unchecked(data: bytes, dest_root: Path, name: str) -> Path:
    """An archive unpacked as is under dest_root/name (no check: what an older server let in)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for info in z.infolist():
            rel = info.filename.split("/", 1)[1]
            if rel and not info.is_dir():
                target = dest_root / name / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(z.read(info))
    return dest_root / name


def build_all(run: Path, folder: Path) -> dict[str, Path]:
    """Every attack as a file under folder: {attack: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for attack, (build, filename, _) in ATTACKS.items():
        path = folder / filename
        path.write_bytes(build(run))
        out[attack] = path
    return out
