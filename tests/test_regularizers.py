"""The regularizer registry: lookup, weights and schedules, one definition of each term for torch (batched and per
layer) and numpy (the figures), and the records that carry the terms, old runs' per-term fields included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ffviz import regularizers
from ffviz.config import RunConfig
from ffviz.figures.regularizers import regularizer_figure
from ffviz.method.losses import regularizer_terms
from ffviz.records import EpochRecord, from_dict
from ffviz.regularizers import REGULARIZERS, get_regularizer, penalties, weights
from ffviz.store.runs import RunReader
from ffviz.store.untrusted import parse_record

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p for p in (ROOT / "assets" / "runs").iterdir() if (p / "epochs.jsonl").exists())


def test_unknown_name_lists_the_valid_ones() -> None:
    assert get_regularizer("orth") is REGULARIZERS["orth"]
    with pytest.raises(KeyError, match="valid: entropy, orth"):
        get_regularizer("sparsity")


def test_every_entry_names_a_config_field_and_its_options() -> None:
    cfg = RunConfig()
    for r in REGULARIZERS.values():
        assert isinstance(getattr(cfg, r.weight_field), float)
        assert all(hasattr(cfg, o) for o in r.options)


@pytest.mark.parametrize("epoch,warm", [(0, 0.0), (5, 0.5), (10, 1.0), (30, 1.0)])
def test_weights_are_lambda_times_schedule(epoch: int, warm: float) -> None:
    cfg = RunConfig(lambda_entropy=0.02, lambda_orth=0.3, orth_warmup_epochs=10)
    assert weights(cfg, epoch) == {"entropy": 0.02, "orth": pytest.approx(0.3 * warm)}
    assert list(weights(cfg, epoch)) == list(REGULARIZERS)  # the order every step's lambdas follow


@pytest.mark.parametrize("scaling", ["mean", "authors"])
def test_batched_padded_terms_equal_each_layer_alone(scaling: str) -> None:
    """Zero rows (the padding to the widest layer) change neither term; each layer's own C sets the authors'
    scaling."""
    gen = torch.Generator().manual_seed(0)
    ws = [torch.softmax(torch.randn(c, 4, generator=gen, dtype=torch.float64), dim=1) for c in (4, 8, 12)]
    padded = torch.zeros(3, 12, 4, dtype=torch.float64)
    for i, w in enumerate(ws):
        padded[i, :len(w)] = w
    cfg = RunConfig(orth_scaling=scaling)
    batched = regularizer_terms(padded, torch.tensor([4, 8, 12]), cfg)
    for i, w in enumerate(ws):
        alone = penalties(w, len(w), cfg)
        for name in REGULARIZERS:
            assert batched[name][i].item() == pytest.approx(alone[name].item(), rel=1e-12)


def test_numpy_and_torch_share_the_definition() -> None:
    w = torch.softmax(torch.randn(10, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64), dim=1)
    np.testing.assert_allclose(regularizers.gram_matrix(w.numpy()), regularizers.gram_matrix(w).numpy(), rtol=1e-12)
    for scaling in ("mean", "authors"):
        np.testing.assert_allclose(regularizers.orthogonality(w.numpy(), 10, orth_scaling=scaling),
                                   regularizers.orthogonality(w, 10, orth_scaling=scaling).item(), rtol=1e-12)


def test_static_assignment_has_no_terms() -> None:
    terms = regularizer_terms(None, torch.tensor([10, 20]), RunConfig())
    assert list(terms) == list(REGULARIZERS) and all(torch.equal(t, torch.zeros(2)) for t in terms.values())


# ------------------------------------------------------------------------------------------------- records
def test_old_epoch_records_are_upgraded_to_the_terms_mapping() -> None:
    new = json.loads((SHIPPED[-1] / "epochs.jsonl").read_text().splitlines()[1])
    # as a run written before the registry kept it: each term in fields of its own
    terms, weighted = new.pop("train_terms"), new.pop("train_terms_w")
    line = {**new, "train_entropy": terms["entropy"], "train_orth": terms["orth"],
            "train_entropy_w": weighted["entropy"], "train_orth_w": weighted["orth"]}
    rec = parse_record(line)
    assert rec.train_terms == {"entropy": line["train_entropy"], "orth": line["train_orth"]}
    assert rec.train_terms_w == {"entropy": line["train_entropy_w"], "orth": line["train_orth_w"]}
    old_untrained = {k: v for k, v in json.loads((SHIPPED[-1] / "epochs.jsonl").read_text().splitlines()[0]).items()
                     if k not in ("train_terms", "train_terms_w")}
    untrained = from_dict({**old_untrained, **dict.fromkeys(("train_entropy", "train_orth", "train_entropy_w",
                                                             "train_orth_w"))})
    assert untrained.train_terms is None and untrained.train_terms_w is None


def test_new_records_round_trip_and_bad_terms_are_refused() -> None:
    line = json.loads((SHIPPED[-1] / "epochs.jsonl").read_text().splitlines()[1])
    rec = parse_record(line)
    d = {k: v for k, v in vars(rec).items()}
    assert parse_record(d) == rec
    with pytest.raises(ValueError, match="train_terms"):
        parse_record({**d, "train_terms": {"entropy": "not a list"}})


@pytest.mark.parametrize("run_dir", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_runs_load_and_show_on_the_regularizers_figure(run_dir: Path) -> None:
    reader = RunReader(run_dir)
    trained = [e for e in reader.epochs if e.train_ce is not None]
    assert trained
    layers = len(trained[0].train_ce)
    for e in trained:
        assert isinstance(e, EpochRecord) and set(e.train_terms) == set(e.train_terms_w) == {"entropy", "orth"}
        assert all(len(v) == layers for v in e.train_terms.values())
    fig = regularizer_figure(reader.epochs, layers - 1, reader.events)
    if reader.config.mode in ("static", "original-ff"):  # no learnable W: no terms to draw
        assert not fig.data
    else:
        assert [t.name for t in fig.data] == ["cross-entropy", "λ_entropy · H(W)  (in the loss)",
                                             "λ_orth · warm-up · O(W)  (in the loss)", "H(W) raw", "O(W) raw"]
