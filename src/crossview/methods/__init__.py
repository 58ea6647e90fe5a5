"""Registered methods. Importing this package registers every built-in method."""

from crossview.methods.base import InputSpec, Method, MethodConfig, OptimizerSpec, Phase, ScheduleSpec
from crossview.methods.registry import create_method, get_method_class, list_methods, register_method

__all__ = [
    "InputSpec",
    "Method",
    "MethodConfig",
    "OptimizerSpec",
    "Phase",
    "ScheduleSpec",
    "create_method",
    "get_method_class",
    "list_methods",
    "register_method",
]
from crossview.methods import cde  # noqa: E402,F401  (registers "cde")

# Built-in methods register themselves on import.
from crossview.methods import safa  # noqa: E402,F401
from crossview.methods import sample4geo  # noqa: E402,F401
from crossview.methods import clnet  # noqa: E402,F401
