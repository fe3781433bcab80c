"""Clustering strategies. Each module of this package registers one."""

from __future__ import annotations

import importlib
import pkgutil

from planche.core.cluster.base import STRATEGIES, ClusterInput, Group, Strategy, get_strategy
from planche.core.cluster.params import Param

# A new strategy is one new module here: importing them all registers them all.
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "params"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["STRATEGIES", "ClusterInput", "Group", "Param", "Strategy", "get_strategy"]
