"""Share links made before the settings moved onto RunConfig's fields (issue 13) still open the same screen: the
query dicts and what they decoded to were recorded with the code of that time and are kept here as literals."""

from __future__ import annotations

import re

import pytest

from pages.common.frame.links import ShareState, decode, encode

OLD_LINKS = [
    ({"page": "train", "lambda_entropy": "0.03", "seed": "7", "hide": "lr", "lock": "all"},
     ShareState(page="train", config={"lambda_entropy": 0.03, "seed": 7}, hide=("lr",), lock_all=True), []),
    ({"page": "assignments", "run": "20261126-182450-learnable-classroom", "mode": "static", "widths": "10,20",
      "bf16": "false", "epochs": "3", "lr": "0.001", "lr_min": "1e-05", "dataset": "mnist", "seed": "7", "epoch": "4",
      "layer": "2", "hide": "lr,start", "lock": "mode"},
     ShareState(page="assignments", run="20261126-182450-learnable-classroom",
                config={"mode": "static", "widths": (10, 20), "bf16": False, "epochs": 3, "lr": 0.001, "lr_min": 1e-05,
                        "dataset": "mnist", "seed": 7}, epoch=4, layer=2, hide=("lr", "start"), lock=("mode",)), []),
    ({"page": "compare", "compare": "a,b", "seed": "2222"},
     ShareState(page="compare", config={"seed": 2222}, compare=("a", "b")), []),
    ({"page": "train", "lambda_entropy": "50", "dropout": "0.95", "epochs": "0", "seed": "-3", "image_size": "4",
      "channels": "2", "lr": "fast", "bogus": "1", "data_root": "/etc", "lock": "all,start,nope",
      "orth_scaling": "AUTHORS"},
     ShareState(page="train", config={"lambda_entropy": 10.0, "dropout": 0.9, "epochs": 1, "seed": 0, "image_size": 4,
                                      "orth_scaling": "authors"}, lock=("start",), lock_all=True),
     ["lambda_entropy=50.0 is out of range (0.0 to 10.0); using 10.0.",
      "dropout=0.95 is out of range (0.0 to 0.9); using 0.9.",
      "epochs=0 is out of range (1 to 1000); using 1.",
      "seed=-3 is out of range (0 to 2147483647); using 0.",
      "Ignored channels=2: use 0 (the dataset's own), 1 or 3.",
      "Ignored lr='fast': expected a number.",
      "Ignored the link parameter 'bogus': not a setting ffviz knows.",
      "Ignored 'data_root': where the server keeps its data cannot be set from a link.",
      "Ignored lock='nope': no control by that name."]),
    ({"page": "gap", "compare": "x,y,z", "temperature": "1e9", "temp_decay": "0.1", "lambda_orth": "0",
      "contribution_signal": "val", "device": "cpu", "compile": "yes", "channels_last": "off", "batch_size": "99999",
      "orth_warmup_epochs": "3.0"},
     ShareState(page="gap", config={"temperature": 1000.0, "temp_decay": 0.5, "lambda_orth": 0.0,
                                    "contribution_signal": "val", "device": "cpu", "compile": True,
                                    "channels_last": False, "batch_size": 4096, "orth_warmup_epochs": 3},
                compare=("x", "y", "z")),
     ["temperature=1000000000.0 is out of range (0.01 to 1000.0); using 1000.0.",
      "temp_decay=0.1 is out of range (0.5 to 1.0); using 0.5.",
      "batch_size=99999 is out of range (1 to 4096); using 4096."]),
    ({"page": "regularizers", "lr_min": "1", "lr": "0.5", "temp_min": "5", "temp_max": "2", "epoch": "-1",
      "layer": "x", "sweep": "s1", "embed": "true"},
     ShareState(page="regularizers", config={"lr": 0.5, "temp_max": 2.0}, epoch=0),
     ["epoch=-1 is below 0; using 0.", "Ignored layer='x': expected a whole number.",
      "Ignored temp_min=5.0: temp_min=5.0 must not exceed temp_max=2.0.",
      "Ignored lr_min=1.0: lr_min=1.0 must not exceed lr=0.5."]),
]


def _named(note: str) -> str:
    """The parameter a note is about: its first ``name=``, else the first quoted name."""
    found = re.findall(r"\b([a-z_]+)=", note) or re.findall(r"'([a-z_]+)'", note)
    return found[0]


@pytest.mark.parametrize(("params", "state", "notes"), OLD_LINKS)
def test_an_old_link_decodes_to_the_same_state_and_notes_on_the_same_parameters(params, state, notes) -> None:
    """The same state; a note on each parameter that had one then (its wording may now be RunConfig's own, as for
    channels=2, which RunConfig's rule now refuses instead of a copy of it in the link codec)."""
    got, got_notes = decode(params)
    assert got == state
    assert sorted(map(_named, got_notes)) == sorted(map(_named, notes))
    assert set(got_notes) >= {n for n in notes if not n.startswith("Ignored channels")}


@pytest.mark.parametrize(("params", "state"), [(p, s) for p, s, n in OLD_LINKS if not n])
def test_a_clean_old_link_is_encoded_as_it_was(params, state) -> None:
    assert encode(state) == params
