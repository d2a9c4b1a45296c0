"""``ring-data verify``: keep only problems whose reference its verifier can check (code: a reference
solution passes every test in the sandbox; candidate answers agree), reject the rest with evidence."""

from .checks import CheckConfig, RowVerdict, check_candidates, check_row
from .pipeline import VerifyConfig, verify_file

__all__ = [
    "CheckConfig",
    "RowVerdict",
    "VerifyConfig",
    "check_candidates",
    "check_row",
    "verify_file",
]
