"""The KV-cache argument across the transformers versions the project supports (``>=5.15,<6``).

transformers 5.2x renamed the cache of ``forward`` and of model outputs from ``past_key_values`` to
``cache``; the old name still works there but warns on every call (and is due to go). Older 5.x only
know ``past_key_values``. These helpers ask the module which name it takes, so the trainer's hot
loops pass the current one without a warning on either side of the rename.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any


@functools.cache
def _cache_name(forward) -> str:
    params = inspect.signature(forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def cache_kwargs(module, cache: Any) -> dict[str, Any]:
    """``{name: cache}`` with the name ``module.forward`` takes for its KV cache."""
    return {_cache_name(type(module).forward): cache}


def output_cache(output) -> Any:
    """The KV cache a model output carries, under either name."""
    if "cache" in getattr(output, "__dataclass_fields__", {}):
        return output.cache
    return output.past_key_values
