"""The nodes' widgets, built from the option table (:mod:`latentsync_core.run.options`): one place for every
default, range, choice list and tooltip the nodes show."""
from __future__ import annotations

from comfy_api.v0_0_2 import io

from ..latentsync_core.run.options import BOOLEAN, COMBO, FLOAT, INT, NODE_OPTIONS, JobOptions, job_options, node_values


def widget(name: str) -> io.Input:
    """The widget of the node input ``name`` (its table entry's default, range, choices and tooltip)."""
    option = NODE_OPTIONS[name]
    form, kind = option.node, option.widget
    if kind == BOOLEAN:
        return io.Boolean.Input(name, default=option.widget_default, optional=form.optional, tooltip=option.tooltip)
    if kind == COMBO:
        return io.Combo.Input(name, options=option.widget_choices, default=option.widget_default,
                              optional=form.optional, tooltip=option.tooltip)
    if kind == INT:
        return io.Int.Input(name, default=option.widget_default, min=option.widget_min, max=option.widget_max,
                            step=option.widget_step, control_after_generate=form.control_after_generate,
                            optional=form.optional, tooltip=option.tooltip)
    if kind == FLOAT:
        return io.Float.Input(name, default=option.widget_default, min=option.widget_min, max=option.widget_max,
                              step=option.widget_step, optional=form.optional, tooltip=option.tooltip)
    raise ValueError(f"option {option.name}: no widget for kind {kind!r}")


def options_of(**widgets) -> JobOptions:
    """The job options set by the widget values ``widgets`` (by input name); the others keep the table's defaults."""
    return job_options(node_values(widgets))
