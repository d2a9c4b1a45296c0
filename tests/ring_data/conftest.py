"""Fixtures shared by the ring_data tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster of two CPUs for one test module: one of its own even where ``ray start``
    left a cluster on this machine (``ray.init`` would join that one)."""
    ray = pytest.importorskip("ray")
    ray.init(
        address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False
    )
    yield
    ray.shutdown()
