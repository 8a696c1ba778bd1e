"""The Train page's run controls and its live panel (progress, changes, loss and accuracy charts)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ffviz.config import LIVE_FIELDS, RunConfig
from ffviz.data.presence import download_note, missing_data
from ffviz.data.registry import downloads_allowed, server_data_root
from ffviz.figures import batch_loss_figure, format_changes, layer_accuracy_figure
from ffviz.figures.epoch_loss import epoch_loss_figure, has_epoch_losses
from ffviz.figures.style import set_events
from ffviz.server import access
from ffviz.store import places
from ffviz.store.folder import ACTIVE, ENDED_EARLY, RunFolder
from ffviz.store.progress import format_seconds, progress
from ffviz.store.runs import RunReader
from ffviz.store.stage import read_stage, stage_text
from pages.common.frame import classroom, state
from pages.common.frame.keys import RETRAIN_OVERLAY_KEY, TOAST_KEY
from pages.common.frame.text import plain
from pages.common.frame.widgets import explain, plot
from pages.common.server import access_ui
from pages.common.train import settings


def data_missing(cfg: RunConfig | None) -> str | None:
    """Mark a dataset that is not on this server's disk before Start (what to fetch, where to put it); say when the
    run will download it first. Returns the reason Start is held back, or None."""
    if cfg is None:
        return None
    root = Path(server_data_root() or cfg.data_root)
    why = missing_data(cfg.dataset, root=root, downloads=downloads_allowed())
    if why:
        st.warning(f"**{cfg.dataset} is not on this server's disk**, so a run of it cannot start. {plain(why)} "
                   "Or pick the built-in digits.", icon=":material/cloud_off:")
    elif note := download_note(cfg.dataset, root=root, downloads=downloads_allowed()):
        st.caption(f":material/download: {plain(note)}")
    return why


def buttons(cfg: RunConfig | None, lr: RunReader | None, run_state: str, *, no_data: str | None = None) -> None:
    """Start, pause, one epoch, resume, stop, reset, retrain: each enabled only when it means something, and the ones
    that act on the shown run only for its owner or the teacher (others watch: a line says why)."""
    run_id = lr.run_id if lr else None
    managed = state.manager().info(run_id) is not None if run_id else False
    active = run_state in ACTIVE
    watch_only = access.why_not(access_ui.identity(), lr.meta) if lr else None
    mine = watch_only is None
    steerable = managed and active and mine
    done = lr.epochs[-1].epoch if lr and lr.epochs else 0
    can_continue = (lr is not None and not active and run_state in ENDED_EARLY and mine
                    and RunFolder(lr.dir).checkpoint("last").exists() and done < lr.config.epochs)
    button = classroom.button  # st.button, unless a classroom link hides or locks it
    others = watch_only or ""
    with st.container(horizontal=True, gap="small", key="run_controls"):
        button("start", "Start", icon=":material/play_arrow:", type="primary", key="btn_start", on_click=_start,
               args=(cfg,), disabled=cfg is None or (active and mine) or bool(no_data),
               help="Train a new run with these settings." if not (active and mine) else
               "A run is going: pause, stop or retrain it first.")
        button("pause", "Pause", icon=":material/pause:", key="btn_pause",
               disabled=not (managed and run_state == "running" and mine), on_click=_steer,
               args=(run_id, "pause"), help=others or "Pause at the next batch.")
        button("step", "One epoch", icon=":material/skip_next:", key="btn_step", disabled=not steerable,
               on_click=_steer, args=(run_id, "step"), help=others or
               "Train to the end of the current epoch (or one whole epoch when paused), then pause.")
        button("resume", "Resume", icon=":material/resume:", key="btn_resume",
               disabled=not ((managed and run_state == "paused" and mine) or can_continue), on_click=_resume,
               args=(run_id, run_state), help=others or "Go on training; a stopped run continues from its last epoch.")
        button("stop", "Stop", icon=":material/stop:", key="btn_stop", disabled=not steerable,
               on_click=_steer, args=(run_id, "stop"),
               help=others or "End the run at the next batch; what it recorded stays, and Resume continues it.")
        button("reset", "Reset", icon=":material/restart_alt:", key="btn_reset", disabled=run_id is None,
               on_click=_reset, args=(run_id, steerable),
               help="Stop the run (yours), clear the charts and restore the default settings.")
        button("retrain", "Retrain", icon=":material/replay:", key="btn_retrain",
               disabled=cfg is None or run_id is None or bool(no_data), on_click=_retrain,
               args=(cfg, run_id, steerable),
               help="A new run with the current settings; the previous run stays on the charts, dashed.")
    if watch_only and lr is not None:
        st.caption(f":material/visibility: {watch_only} Start trains a run of your own.")


def _meta(run_id: str | None) -> dict:
    lr = state.live(run_id)
    return lr.meta if lr is not None else {}


def _steer(run_id: str, action: str) -> None:
    """Pause, one epoch or stop, for the run's owner or the teacher only (checked here, not just by the button)."""
    if not access_ui.guard(_meta(run_id), {"pause": "pause", "step": "step", "stop": "stop"}[action] + " this run"):
        return
    if action == "pause":
        state.manager().control(run_id).pause()
    elif action == "step":
        state.manager().control(run_id).step_epoch()
    else:
        state.manager().cancel(run_id)


def _start(cfg: RunConfig) -> None:
    state.submit(cfg)


def _resume(run_id: str, run_state: str) -> None:
    if not access_ui.guard(_meta(run_id), "resume this run"):
        return
    if run_state == "paused":
        state.manager().control(run_id).resume()
        return
    run_dir = places.find_run(run_id) or state.root() / run_id
    cfg = state.live(run_id).config
    if not access_ui.check_submit(cfg, state.manager().active(), new_run=False):
        return
    try:
        # the run keeps its owner; its disk bound and client address are this server's now
        state.manager().submit_continue(run_dir, epochs=cfg.epochs, meta=access_ui.run_meta())
    except (ValueError, FileNotFoundError, OSError) as e:  # an upload, or a run that went on elsewhere
        st.session_state[TOAST_KEY] = f"Could not resume {run_id}: {e}. Use Continue on the Runs page."


def _reset(run_id: str, steerable: bool) -> None:
    if steerable and access_ui.guard(_meta(run_id), "stop this run"):
        state.manager().cancel(run_id)
    st.session_state[RETRAIN_OVERLAY_KEY] = None
    state.set_current_run(None)
    settings.load(settings.defaults())


def _retrain(cfg: RunConfig, run_id: str, steerable: bool) -> None:
    if steerable and access_ui.guard(_meta(run_id), "stop this run"):
        state.manager().cancel(run_id)  # the old run would only slow the new one down
    state.submit(cfg, compare_with=run_id)


def live_values(lr: RunReader) -> dict[str, float]:
    """The live fields' values now: the config's, updated by every recorded change."""
    cfg = lr.config
    out = {name: float(getattr(cfg, name)) for name in LIVE_FIELDS}
    for ev in set_events(lr.events):
        out.update({k: float(v[1]) for k, v in ev.changes.items() if k in out})
    return out


def status_panel(lr: RunReader, run_state: str) -> None:
    """Epoch and batch, images/s, device and time left; the queue position while waiting."""
    p = progress(lr, run_state)
    bpe = p.batches_per_epoch or 0
    cols = st.columns(5)
    cols[0].metric("Epoch", f"{p.epochs_done} / {p.epochs_total}")
    cols[1].metric("Batch", f"{p.batch_in_epoch} / {bpe}" if run_state in ACTIVE else "–")
    cols[2].metric("Images / s", f"{p.images_per_sec:,.0f}" if p.images_per_sec else "–")
    cols[3].metric("Device", p.device.split(" (")[0].upper(), help=p.device)
    cols[4].metric("Time left", format_seconds(p.seconds_left) if run_state in ACTIVE else "–")
    st.progress(p.fraction, text=f"{run_state} · {100 * p.fraction:.0f}% · step {p.step}")
    if run_state == "interrupted":
        # the run's error is text from its folder (an upload's meta.json, a crash's message): shown as typed
        why = plain(lr.meta.get("error") or "its process ended before the run did")
        st.warning(f"This run was interrupted: {why}. What it recorded stays; **Resume** continues it from its last "
                   "finished epoch.", icon=":material/warning:")
    if run_state == "queued":
        pos = state.manager().queue_position(lr.run_id)
        st.info(f"Waiting for a free slot{f': position {pos} in the queue' if pos else ''}. Runs start as others "
                f"finish (at most {state.manager().max_running} at a time).", icon=":material/hourglass_top:")
    elif run_state in ("starting", "running") and not lr.batches and (stage := stage_text(read_stage(lr.dir))):
        st.info(f"Starting: {stage}.", icon=":material/hourglass_top:")
    test = lr.test if run_state == "finished" else None
    if test is not None:
        # an imported log names no best layer (best_layer -1)
        best = f", best layer ({test.best_layer}) {test.acc_best_layer:.1f}%" if test.best_layer >= 0 else ""
        st.success(f"Finished. Test accuracy: α-weighted ensemble **{test.acc_alpha:.1f}%**, plain sum "
                   f"{test.acc_sum:.1f}%, last layer {test.acc_last:.1f}%{best}.", icon=":material/check_circle:")


def changes_recorded(lr: RunReader) -> None:
    changes = set_events(lr.events)
    if changes:
        lines = [f"step {e.step} (epoch {e.epoch + 1}): {format_changes(e.changes)}" for e in changes[-3:]]
        st.markdown(":material/flag: **Change recorded** — " + " · ".join(lines))


def charts(lr: RunReader, compare: RunReader | None) -> None:
    left, right = st.columns(2, gap="medium")
    with left:
        if not lr.batches and has_epoch_losses(lr.epochs):  # imported logs: one loss per layer and epoch
            plot(epoch_loss_figure(lr.epochs))
        else:
            plot(batch_loss_figure(lr.batches, lr.events, previous=compare.batches if compare else None))
        explain("Each layer learns from its own loss: no error signal travels between layers. Look for the "
                "curves falling one by one, and for a kink where a flag marks a change you made.")
    with right:
        plot(layer_accuracy_figure(lr.epochs, lr.events, previous=compare.epochs if compare else None))
        explain("Each thin line is one layer guessing alone; the thick black line is the α-weighted vote of all "
                "layers. The vote usually beats every single layer.")
