"""Figure builders: pure functions from run records (EpochRecord lists, a Snapshot, events) to Plotly figures.

    from ffviz.figures import assignment_heatmap
    fig = assignment_heatmap(reader.snapshot(5).w[2], class_names)

The pages only place what these return; nothing here imports Streamlit, so every figure is tested without a UI.
One module per view: curves (Train), assignments, regularizers, goodness, contributions, sweep (Sweeps); animation
makes GIFs of W; style holds the shared look.
"""

from ffviz.figures.assignments import (
    assignment_heatmap,
    assignment_panel_figure,
    channel_history_figure,
    channel_order,
    channels_per_class_figure,
    color_cap,
    sharpness_figure,
    temperature_figure,
)
from ffviz.figures.contributions import (
    alpha_figure,
    confusion_figure,
    contributions_over_epochs_figure,
    ensemble_accuracy_figure,
    layer_accuracy_alpha_figure,
    pca_figure,
)
from ffviz.figures.curves import batch_loss_figure, layer_accuracy_figure
from ffviz.figures.goodness import goodness_distribution_figure, image_goodness_figure, true_vs_wrong_figure
from ffviz.figures.regularizers import gram_figure, regularizer_figure
from ffviz.figures.style import empty_figure, format_changes, layer_colors
from ffviz.figures.sweep import sweep_heatmap

__all__ = [
    "alpha_figure", "assignment_heatmap", "assignment_panel_figure", "batch_loss_figure", "channel_history_figure",
    "channel_order", "channels_per_class_figure", "color_cap", "confusion_figure", "contributions_over_epochs_figure",
    "empty_figure",
    "ensemble_accuracy_figure", "format_changes", "goodness_distribution_figure", "gram_figure",
    "image_goodness_figure", "layer_accuracy_alpha_figure", "layer_accuracy_figure", "layer_colors", "pca_figure",
    "regularizer_figure", "sharpness_figure", "sweep_heatmap", "temperature_figure", "true_vs_wrong_figure",
]
