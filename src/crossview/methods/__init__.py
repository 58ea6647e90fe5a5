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
