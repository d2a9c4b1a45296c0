"""``ring-data verify``: keep only problems whose reference its verifier can check (code: a reference
solution passes every test in the sandbox; candidate answers agree), reject the rest with evidence."""

from .checks import CheckConfig, RowVerdict, check_candidates, check_row
from .pipeline import VerifyConfig, VerifyStats, verify_file

__all__ = [
    "CheckConfig",
    "RowVerdict",
    "VerifyConfig",
    "VerifyStats",
    "check_candidates",
    "check_row",
    "verify_file",
]
