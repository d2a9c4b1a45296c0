"""Thin command-line layer over the packages (no logic of its own)."""
