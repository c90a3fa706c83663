"""Methods: the fit/predict contract, the registry and the method families."""
from .base import (GROUPS, SUITES, Method, MethodInfo, RunContext, build_method, get_method_info, list_methods,
                   register_method, training_target)

__all__ = ["GROUPS", "SUITES", "Method", "MethodInfo", "RunContext", "build_method", "get_method_info",
           "list_methods", "register_method", "training_target"]
