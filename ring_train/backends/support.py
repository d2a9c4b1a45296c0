"""Which config keys a backend honours, so no setting is ignored without a word.

Every backend declares every leaf key of :class:`~ring_train.config.RLConfig` (dotted, e.g.
``optim.weight_decay``) as one of:

- :class:`Native`: the backend implements the key itself;
- :class:`Mapped`: the key becomes the backend's own flag or setting (``to`` says which); values with
  no equivalent there are refused by ``refuse(cfg)``;
- :class:`Refused`: the backend has no equivalent; any value other than the config default is refused.

:func:`check_support` runs before a backend launches anything and raises one ``UserError`` line naming
every refused key of every stage. A test walks the dataclass tree and checks each backend's table
covers every key.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ring_data.errors import UserError

from ..config import RLConfig
from ..core.schedule import Stage


@dataclass(frozen=True)
class Native:
    note: str = ""


@dataclass(frozen=True)
class Mapped:
    to: str  # the backend's flag(s) or mechanism, as the docs show it
    refuse: Callable[[RLConfig], str | None] | None = None  # a reason when this value has no equivalent


@dataclass(frozen=True)
class Refused:
    reason: str  # why the backend cannot honour it; the config default is accepted


Support = Native | Mapped | Refused
REQUIRED = dataclasses.MISSING  # default_of() for keys without a default (model, run_dir, stages)


def _leaves(cls, prefix: str) -> Iterator[tuple[str, dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from _leaves(tp, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", f, cls


def config_keys(cls=RLConfig) -> list[str]:
    """Every leaf key of the config, dotted (``stages`` is one key)."""
    return [key for key, _, _ in _leaves(cls, "")]


def default_of(key: str, cls=RLConfig) -> Any:
    for name, f, _ in _leaves(cls, ""):
        if name == key:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            return REQUIRED
    raise KeyError(key)


def value_of(cfg: Any, key: str) -> Any:
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def refusals(cfg: RLConfig, table: Mapping[str, Support]) -> list[str]:
    """``key=value (reason)`` for every key of ``cfg`` the table refuses."""
    missing = sorted(set(config_keys()) - set(table))
    if missing:  # a programming error: a key was added without deciding what each backend does with it
        raise RuntimeError(f"backend support table lacks config keys: {', '.join(missing)}")
    out = []
    for key in config_keys():
        rule, value = table[key], value_of(cfg, key)
        reason = None
        if isinstance(rule, Refused) and value != default_of(key):
            reason = rule.reason
        elif isinstance(rule, Mapped) and rule.refuse is not None:
            reason = rule.refuse(cfg)
        if reason:
            out.append(f"{key}={value!r} ({reason})")
    return out


def check_support(backend: str, cfg: RLConfig, stages: list[Stage], table: Mapping[str, Support]) -> None:
    """One line naming every key (of the run config and of each stage's overrides) ``backend`` would
    not honour; nothing when all are honoured."""
    found: list[str] = []
    for scfg in [cfg, *(cfg.for_stage(s) for s in stages)]:
        found += [r for r in refusals(scfg, table) if r not in found]
    if found:
        raise UserError(f"backend {backend!r} cannot honour {'; '.join(found)}")
