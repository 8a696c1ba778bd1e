"""The runs a comparison reads: the Compare page's default pair and the Gap page's pickers, one run per mode."""

from __future__ import annotations

import streamlit as st

from ffviz import modes, regularizers
from ffviz.comparison import ComparedRun, unique_labels
from ffviz.config import RunConfig
from ffviz.seed_groups import seed_of_dir, shape_of_dir
from ffviz.store import places
from ffviz.store.catalog import RunSummary
from pages.common.frame import state
from pages.common.frame.keys import GAP_KEYS


# ----------------------------------------------------------------------------------------------------- comparing
def compared(run_ids: list[str]) -> list[ComparedRun]:
    """The runs a comparison reads, each labelled by its name (numbered where two share one)."""
    lives = [lr for r in run_ids if (lr := state.live(r)) is not None]
    runs = [ComparedRun.of(lr) for lr in lives]
    for run, lr, name in zip(runs, lives, unique_labels([r.label for r in runs]), strict=True):
        run.label = name
        run.origin = origin(places.source_of(lr.dir), lr.meta.get("owner"))
    return runs


def origin(source: str, owner: str | None) -> str:
    """Where a run comes from, for seed groups: an upload joins only the uploads of its own uploader."""
    return f"uploaded:{owner or ''}" if source == "uploaded" else source


def _default_of(rows: list[RunSummary]) -> str:
    """The run a picker starts on: a shipped run with the default λs, else any shipped run, else the newest."""
    defaults = RunConfig()
    shipped = [r for r in rows if r.source == "shipped"]
    plain = [r for r in shipped if r.lambdas == regularizers.lambdas(defaults)]
    return (plain or shipped or rows)[0].run_id


def default_compare(rows: list[RunSummary]) -> list[str]:
    """The session's run and the newest other run on its data; else the shipped learnable and static runs."""
    current = state.current_run_id()
    by_id = {r.run_id: r for r in rows}
    if current in by_id:
        other = [r.run_id for r in rows if r.run_id != current and r.dataset == by_id[current].dataset]
        if other:
            return [current, other[0]]
    picks = [_default_of(of_mode) for mode in ("learnable", "static")
             if (of_mode := [r for r in rows if r.mode == mode and r.dataset == "digits"])]
    return picks if len(picks) == 2 else [r.run_id for r in rows[:2]]


def seed_groups_of(rows: list[RunSummary]) -> dict[str, list[str]]:
    """Runs that differ only by seed (ffviz.seed_groups): each group's lowest-seed run id -> its run ids, by seed."""
    groups: dict[tuple, list[RunSummary]] = {}
    for r in rows:
        key = shape_of_dir(r.dir)
        where = origin(r.source, r.owner)  # an upload never joins a shipped run's seeds
        groups.setdefault((r.mode, r.run_id) if key is None else (r.mode, where, key), []).append(r)
    out = {}
    for members in groups.values():
        ids = [m.run_id for m in sorted(members, key=lambda m: seed_of_dir(m.dir))]
        out[ids[0]] = ids
    return out


def gap_pickers(rows: list[RunSummary]) -> tuple[list[str], int]:
    """The dataset, one group of seeds per mode on it (shipped ones first), and the accuracy to reach. Returns the
    picked groups' run ids, every seed of each."""
    ss = st.session_state
    datasets = sorted({r.dataset for r in rows}) or ["digits"]
    if ss.get("gap_dataset") not in datasets:
        ss["gap_dataset"] = "digits" if "digits" in datasets else datasets[0]
    lineage = modes.lineage()  # one picker per mode, in the lineage's order
    c = st.columns([1, *[1.5] * len(lineage), 1.3], vertical_alignment="bottom")
    dataset = c[0].selectbox("Dataset", datasets, key="gap_dataset", persist_state="session")
    picks: list[str] = []
    for col, mode in zip(c[1:-1], lineage, strict=True):
        of_mode = {r.run_id: r for r in rows if r.dataset == dataset and r.mode == mode}
        groups = seed_groups_of(list(of_mode.values()))
        options = {lead: of_mode[lead] for lead in groups}
        key = GAP_KEYS[mode]
        if not options:
            col.selectbox(modes.label(mode), ["no run yet"], key=f"{key}_none", disabled=True)
            continue
        # a link (or an earlier pick) may name any seed of a group: the picker shows its group
        lead_of = {run_id: lead for lead, ids in groups.items() for run_id in ids}
        if ss.get(key) in lead_of:
            ss[key] = lead_of[ss[key]]
        if ss.get(key) not in options:
            many = [lead for lead in options if len(groups[lead]) == max(len(g) for g in groups.values())]
            ss[key] = _default_of([options[lead] for lead in many])
        lead = col.selectbox(modes.label(mode), list(options), key=key, persist_state="session",
                             format_func=lambda r, o=options, g=groups: f"{o[r].name} · {len(g[r])} seed"
                             f"{'s' if len(g[r]) > 1 else ''} · {o[r].source}")
        picks += groups[lead]
    ss.setdefault("gap_threshold", 95)
    threshold = c[-1].slider("Accuracy to reach (%)", 50, 99, key="gap_threshold", persist_state="session",
                            help="For the chart of epochs needed to reach it (α-weighted vote, validation).")
    return picks, int(threshold)
