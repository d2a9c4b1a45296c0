"""Fault and load tests: kill-and-resume, worker chaos, sandbox load, hostile environments, fuzzing.
Puts this folder on ``sys.path`` (the suite runs in importlib mode) so tests can ``import soak``."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.append(HERE)
