"""``ring-train eval``: the paper's benchmark protocol (n samples per problem at temperature 1.0,
top-p 0.95; avg@n, unbiased pass@k, maj@k, response length, truncation; IFEval strict/loose) over the
annotate samplers and ``verify_batch``. See docs/eval.md."""

from .estimators import maj_at_k, mean_pass_at_k, pass_at_k
from .run import EvalConfig, run_eval

__all__ = ["EvalConfig", "maj_at_k", "mean_pass_at_k", "pass_at_k", "run_eval"]
