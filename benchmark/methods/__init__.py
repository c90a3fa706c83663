"""Methods: the fit/predict contract, the registry (:data:`METHODS`) and the method families.

Every module of this package is imported before the first method lookup and registers its own
methods (``register_method``); plugins add theirs (:mod:`benchmark.plugins`).
"""
from .base import (GROUPS, METHODS, SUITES, Method, MethodInfo, RunContext, build_method, get_method_info,
                   list_methods, register_method, training_target)

__all__ = ["GROUPS", "METHODS", "SUITES", "Method", "MethodInfo", "RunContext", "build_method", "get_method_info",
           "list_methods", "register_method", "training_target"]
