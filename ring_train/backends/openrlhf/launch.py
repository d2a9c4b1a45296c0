"""Runs one OpenRLHF stage: ``python -m ring_train.backends.openrlhf.launch ARGV.json``.

A fresh process per stage: Ray is initialised here first, with the C3PO patch as every worker's
setup hook and the ``RING_C3PO_*`` settings in the workers' environment; OpenRLHF's own entry point
then sees Ray already running and uses it. OpenRLHF builds its parser under ``__main__``, so it is
run with ``runpy`` rather than imported.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path

HOOK = "ring_train.backends.openrlhf.patch.install"


def main(argv_file: str) -> int:
    import ray

    spec = json.loads(Path(argv_file).read_text(encoding="utf-8"))
    env = dict(spec["env"])
    os.environ.update(env)
    ray.init(runtime_env={"worker_process_setup_hook": HOOK, "env_vars": env})
    from .patch import install

    install()
    sys.argv = ["openrlhf.cli.train_ppo_ray", *spec["argv"]]
    try:
        runpy.run_module("openrlhf.cli.train_ppo_ray", run_name="__main__")
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
