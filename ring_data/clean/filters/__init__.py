"""Row filters from the Ring-lite recipe (§2.3), one module each: a row failing a filter is rejected
with reason ``filter_<name>`` and the evidence the filter returns (what matched).

Every module of this package registers its filter when the package is imported (a new built-in filter
is one new file here plus its test); user code registers its own with the same decorator before the
run. See :mod:`.base` for the protocol.
"""

import importlib
import pkgutil

from .base import Evidence, Filter, FilterSet, Settings, filter_names, register_filter, registered

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
del _module

__all__ = ["Evidence", "Filter", "FilterSet", "Settings", "filter_names", "register_filter", "registered"]
