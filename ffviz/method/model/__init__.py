"""Networks: the CAW-Conv layer and the residual Forward-Forward network built from it."""

from ffviz.method.model.build import build_network, count_parameters
from ffviz.method.model.layer import CAWConv, GoodnessSpec, pooled_goodness, static_assignment
from ffviz.method.model.network import Assignments, FFNet, LayerOut, validate_widths

__all__ = ["Assignments", "CAWConv", "FFNet", "GoodnessSpec", "LayerOut", "build_network", "count_parameters",
           "pooled_goodness", "static_assignment", "validate_widths"]
