"""Share links: a screen's state survives the URL both ways; a bad link is read as far as it is good, never raises,
and says what it ignored or clamped."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ffviz.config import RunConfig
from pages.common.frame.links import (
    CONFIG_FIELDS,
    CONTROLS,
    KEYS,
    RANGES,
    ShareState,
    _decode,
    config_changes,
    decode,
    encode,
    fit_to_run,
    share_url,
)


def test_round_trip_of_a_full_state() -> None:
    cfg = RunConfig(lambda_entropy=0.03, lambda_orth=0.0, mode="static", widths=(10, 20), seed=7, bf16=False,
                    epochs=3, lr=1e-3, lr_min=1e-5, dataset="mnist")
    state = ShareState(page="assignments", run="20261126-182450-learnable-classroom", config=config_changes(cfg),
                       epoch=4, layer=2, compare=("a", "b"), hide=("lr", "start"), lock=("mode",))
    params = encode(state)
    assert params["seed"] == "7" and params["widths"] == "10,20" and params["bf16"] == "false"
    back, notes = decode(params)
    assert notes == [] and back == state
    assert back.run_config() == cfg
    assert "data_root" not in params


def test_the_seed_is_always_in_the_link_and_defaults_are_not() -> None:
    params = encode(ShareState(config=config_changes(RunConfig())))
    assert params == {"seed": "2222"}


def test_url_keeps_commas_readable_and_carries_the_page_path() -> None:
    url = share_url("http://host:8501/", ShareState(page="train", config={"lambda_entropy": 0.03}, hide=("lr", "seed"),
                                                    lock_all=True))
    assert url.startswith("http://host:8501/train?page=train&")
    assert "hide=lr,seed" in url and "lock=all" in url and "lambda_entropy=0.03" in url
    assert share_url("http://host:8501", ShareState()) == "http://host:8501/?seed=2222"


def test_wrong_types_are_ignored_with_a_note_naming_the_field_and_type() -> None:
    state, notes = decode({"lr": "fast", "epochs": "2.5", "bf16": "maybe", "widths": "20,x", "mode": "magic",
                           "dataset": "imagenet-22k", "preset": "huge", "epoch": "last", "channels": "2"})
    assert state.config == {} and state.epoch is None
    text = "\n".join(notes)
    for expected in ("lr='fast': expected a number", "epochs='2.5': expected a whole number",
                     "bf16='maybe': expected true or false", "widths='20,x': expected a comma-separated list",
                     "mode='magic': choose one of learnable, static, backprop", "dataset='imagenet-22k'",
                     "preset='huge'", "epoch='last': expected a whole number", "channels=2"):
        assert expected in text
    assert len(notes) == 9


def test_out_of_range_values_are_clamped_with_a_note() -> None:
    state, notes = decode({"epochs": "100000", "lambda_entropy": "-1", "dropout": "0.99", "seed": "-3",
                           "layer": "-2"})
    assert state.config["epochs"] == 1000 and state.config["dropout"] == 0.9 and state.config["seed"] == 0
    assert state.config["lambda_entropy"] == 0.0
    assert state.layer == 0
    assert any("epochs=100000 is out of range (1 to 1000); using 1000" in n for n in notes)
    assert any("lambda_entropy=-1.0 is out of range" in n for n in notes)
    assert len(notes) == 5


def test_unknown_keys_runs_and_controls_are_noted() -> None:
    state, notes = decode({"lrr": "0.1", "run": "nope", "compare": "a,nope,../x", "hide": "lr,wings",
                           "lock": "all,mode", "embed": "true", "data_root": "/etc"}, known_runs={"a", "b"})
    assert state.run is None and state.compare == ("a",)
    assert state.hide == ("lr",) and state.lock_all and state.lock == ("mode",)
    assert state.is_hidden("lr") and not state.is_locked("lr") and state.is_locked("epochs")
    assert state.is_locked("data_root") and state.is_locked("mode")
    assert not state.is_locked("start") and not state.is_locked("epoch")  # lock=all: settings, not buttons/pickers
    assert encode(state)["lock"] == "all,mode"
    text = "\n".join(notes)
    assert "(did you mean lr?)" in text and "'nope'" in text and "'../x'" in text and "'wings'" in text
    assert "data_root" in text and "embed" not in text


def test_settings_that_clash_are_dropped_by_name() -> None:
    state, notes = decode({"mode": "backprop", "ff_step": "lean", "lr": "0.01", "lr_min": "0.5"})
    assert state.config == {"mode": "backprop", "lr": 0.01}
    assert any(n.startswith("Ignored ff_step=lean") for n in notes)
    assert any(n.startswith("Ignored lr_min=0.5") for n in notes)


def test_list_values_and_case() -> None:
    state, notes = decode({"MODE": ["static", "Backprop"], "Page": "Gap"})
    assert state.config == {"mode": "backprop"} and state.page == "gap" and notes == []


def test_fit_to_run_clamps_epoch_and_layer() -> None:
    state, notes = fit_to_run(ShareState(epoch=50, layer=12), epochs=list(range(13)), num_layers=9)
    assert (state.epoch, state.layer) == (12, 8) and len(notes) == 2
    state, notes = fit_to_run(ShareState(epoch=3, layer=1), epochs=list(range(13)), num_layers=9)
    assert (state.epoch, state.layer, notes) == (3, 1, [])


def test_every_control_and_range_names_a_real_field() -> None:
    assert set(RANGES) <= set(CONFIG_FIELDS)
    assert set(CONFIG_FIELDS) <= set(CONTROLS) and set(CONFIG_FIELDS) <= set(KEYS)


@pytest.mark.parametrize("field", sorted(RANGES))
def test_every_range_end_is_a_valid_config(field) -> None:
    for end in RANGES[field]:
        value = int(end) if isinstance(RunConfig().to_dict()[field], int) else float(end)
        state, _ = decode({field: str(value)})
        state.run_config()  # validates


# ----------------------------------------------------------------------------------------------------- fuzz
_text = st.text(max_size=30)
_key = st.one_of(st.sampled_from([*KEYS, "embed", "data_root", "Epoch"]), _text)
_value = st.one_of(_text, st.sampled_from(["nan", "inf", "-inf", "1e999", "-0", "0x10", "1_000", "", " ", "all",
                                           "true", "1,2,3", ",,,", "9" * 400, "\x00", "-1e-320"]),
                   st.integers().map(str), st.floats(allow_nan=True).map(repr),
                   st.lists(_text, max_size=3))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_key, _value, max_size=12), st.one_of(st.none(), st.sets(_text, max_size=3)))
def test_fuzz_decode_never_raises_and_yields_a_valid_state(params, known) -> None:
    state, notes = _decode(params, known)
    assert isinstance(notes, list) and all(isinstance(n, str) and n for n in notes)
    state.run_config()  # whatever survives validates together
    assert set(state.hide) <= set(CONTROLS) and set(state.lock) <= set(CONTROLS)
    assert state.epoch is None or state.epoch >= 0
    again, again_notes = _decode(encode(state), None)  # what survives round-trips cleanly
    assert again_notes == [] and again.run_config() == state.run_config()
    assert dataclasses.replace(again, config={}) == dataclasses.replace(state, config={})


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.lists(st.integers()), st.dictionaries(st.integers(), st.integers())))
def test_fuzz_odd_containers(params) -> None:
    state, notes = decode(params)  # type: ignore[arg-type]
    assert isinstance(state, ShareState)
