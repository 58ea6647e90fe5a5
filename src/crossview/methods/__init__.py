"""Methods behind one registry.

Built-in and third-party methods are found through the ``crossview.methods`` entry-point group
(:mod:`crossview.methods.registry`); importing this package loads none of them.
"""

from crossview.data.inputs import InputSpec
from crossview.methods.base import Method, MethodConfig, OptimizerSpec, Phase, ScheduleSpec
from crossview.methods.registry import (
    Preset,
    create_method,
    get_method_class,
    get_preset,
    list_methods,
    list_presets,
    register_method,
)

__all__ = [
    "InputSpec",
    "Method",
    "MethodConfig",
    "OptimizerSpec",
    "Phase",
    "Preset",
    "ScheduleSpec",
    "create_method",
    "get_method_class",
    "get_preset",
    "list_methods",
    "list_presets",
    "register_method",
]
