"""Runs untrusted programs (Python, C++, Java) for code rewards: a local isolated runner (default)
and E2B (remote). See ARCHITECTURE.md §4."""
