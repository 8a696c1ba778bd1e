"""Sweeps: a grid of settings trained over several seeds, as heatmaps that fill in while the runs finish (click a
cell to open its run); and class experiments, where every student who opens the teacher's link trains the next cell
no one has taken, and everyone sees the same grid fill in."""

import streamlit as st

from pages.common.frame import classroom, state
from pages.common.frame.widgets import explain
from pages.common.sweep import sweep_start, sweep_ui

state.require_frame()
st.title("Sweeps", anchor=False)
explain("What does a setting do to accuracy and to the assignment, across a range and over seeds? A sweep trains "
        "every combination of the values you pick, once per seed, and shows the grid as heatmaps. In a class "
        "experiment, each student trains one cell and the whole class fills in the grid together.")
sweep_ui.message()

joined = sweep_ui.joined_sweep()  # this session opened a class experiment's link
if joined is not None:
    sweep_start.my_cell(joined)

sweep = sweep_ui.pick()
if sweep is None:
    st.info("No sweep yet. Start one below, or from the command line: `python -m ffviz sweep --recipe classroom "
            "--grid lambda_entropy=0,0.01,0.1 --grid lambda_orth=0,0.001,0.1 --seeds 1,2`.", icon=":material/info:")
else:
    sweep_start.class_link(sweep)
    sweep_start.cancel_control(sweep)
    sweep_ui.grid(sweep)

if joined is None and not classroom.current().classroom:  # not for a student who came through a teacher's link
    with st.expander("Start a sweep or a class experiment", expanded=sweep is None, icon=":material/grid_view:"):
        sweep_start.start_form()
