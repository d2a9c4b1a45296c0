"""Installs C3PO into OpenRLHF inside every Ray worker (``worker_process_setup_hook``).

``install()`` must not import OpenRLHF itself: the hook also runs in vLLM engine workers, which
OpenRLHF keeps free of DeepSpeed. It registers a post-import hook instead, so each target module
is patched right after it first executes in a process that imports it:

- ``openrlhf.trainer.ppo_utils.replay_buffer``: ``NaiveReplayBuffer.setup_dynamic_batch`` -> one optimizer
  step per rollout, normaliser Φ (``dynamic_batch.c3po_setup_dynamic_batch``);
- ``openrlhf.trainer.ppo_utils.experience_maker``: ``RemoteExperienceMaker.make_experience_batch`` wrapped
  so its output (advantages already on full groups) is cut to Φ in batch order (global scope).

With the budget off (``RING_C3PO_BUDGET=off``) nothing is patched: plain OpenRLHF GRPO.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import sys

from .settings import C3POSettings

log = logging.getLogger(__name__)

REPLAY_BUFFER = "openrlhf.trainer.ppo_utils.replay_buffer"
EXPERIENCE_MAKER = "openrlhf.trainer.ppo_utils.experience_maker"
PATCHED = "__ring_c3po_patched__"


def _patch_replay_buffer(module) -> None:
    from .dynamic_batch import c3po_setup_dynamic_batch

    module.NaiveReplayBuffer.setup_dynamic_batch = c3po_setup_dynamic_batch


def _patch_experience_maker(module) -> None:
    settings = C3POSettings.from_env()
    if settings.scope != "global":
        return
    cls = module.RemoteExperienceMaker
    original = cls.make_experience_batch

    def make_experience_batch(self, *args, **kwargs):
        from .selection import select_experiences

        experiences = original(self, *args, **kwargs)
        packing = bool(getattr(getattr(self.args, "ds", None), "packing_samples", False))
        kept, plan = select_experiences(
            experiences, settings.budget, order=settings.order, seed=settings.seed, packing_samples=packing
        )
        log.info(
            "C3PO: kept %d of %d tokens (fill %.3f)", plan.kept_tokens, plan.total_tokens, plan.fill_ratio
        )
        return kept

    cls.make_experience_batch = make_experience_batch


_PATCHES = {REPLAY_BUFFER: _patch_replay_buffer, EXPERIENCE_MAKER: _patch_experience_maker}


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, inner, patch):
        self._inner, self._patch = inner, patch

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        if not getattr(module, PATCHED, False):
            self._patch(module)
            setattr(module, PATCHED, True)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        patch = _PATCHES.get(fullname)
        if patch is None:
            return None
        sys.meta_path.remove(self)  # find the real spec without recursing into ourselves
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _PatchingLoader(spec.loader, patch)
        return spec


def install() -> bool:
    """Patch OpenRLHF for C3PO in this process (idempotent). Returns False when the budget is off."""
    if C3POSettings.from_env().budget is None:
        return False
    for name, patch in _PATCHES.items():  # already imported here: patch in place
        module = sys.modules.get(name)
        if module is not None and not getattr(module, PATCHED, False):
            patch(module)
            setattr(module, PATCHED, True)
    if not any(isinstance(f, _PostImportFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _PostImportFinder())
    return True
