"""The Ray cluster the ``--engine ray`` commands run on: the one at ``RAY_ADDRESS``, else the one
``ray start`` left on this machine, else a local instance on this machine's cores (stopped when the
command exits). Ray is optional: without it ``--engine ray`` is a one-line error."""

from __future__ import annotations

import os

from .errors import UserError


def require():
    """The ``ray`` module, or a one-line error saying how to get it."""
    try:
        import ray
    except ImportError:
        raise UserError(
            "--engine ray needs the ray package: pip install 'ring-toolkit[ray]' (or use --engine local)"
        ) from None
    return ray


def connect():
    """Join (or start) the cluster once per process; returns the ``ray`` module."""
    ray = require()
    if not ray.is_initialized():
        ray.init(
            address=os.environ.get("RAY_ADDRESS"),
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            ignore_reinit_error=True,
        )
    return ray
