"""Reward adapters for the trainers people already run, built on ``verify_batch`` (one persistent pool):

- :mod:`verifiers.adapters.trl`: ``GRPOTrainer(reward_funcs=[ring_reward])``;
- :mod:`verifiers.adapters.verl`: ``custom_reward_function.path=<verl.py>`` (``compute_score`` for the
  naive reward manager, ``compute_score_batch`` for the batch one);
- :mod:`verifiers.adapters.openrlhf`: ``--reward.remote_url <openrlhf.py>`` (or the reward server).

Each imports nothing heavy (no torch, transformers, polars); the shared parsing lives in
:mod:`verifiers.adapters.common`.
"""

from .common import completion_text, parse_reference

__all__ = ["completion_text", "parse_reference"]
