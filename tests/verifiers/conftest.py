"""Puts this folder on ``sys.path`` (the suite runs in importlib mode) so tests can import the
``mathverify_suite`` helper that ``benchmarks/verifiers.py`` shares."""

import sys
from pathlib import Path

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.append(HERE)
