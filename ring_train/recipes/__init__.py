"""Runnable recipes: generated task data plus the config that trains on it (see docs/train.md)."""
