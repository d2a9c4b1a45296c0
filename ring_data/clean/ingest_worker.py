"""Entry point of one ingest worker process: ``python -m ring_data.clean.ingest_worker JOB.pkl``, or
``... -``: import everything first, then read the job's path from stdin (a prewarmed worker, see
``ring_data.clean.workers``; end of input without a path: exit). A module of its own so the pickled
results name ``ring_data.clean.ingest``, not ``__main__``."""

import sys

from ring_data.runtime import fewer_gc_passes, numpy_without_hugepages

numpy_without_hugepages()
fewer_gc_passes()

from ring_data.clean.ingest import worker_main  # noqa: E402  (after the numpy setting)

if __name__ == "__main__":
    job = sys.argv[1]
    if job == "-":
        job = sys.stdin.readline().strip()
        if not job:
            raise SystemExit(0)
    raise SystemExit(worker_main(job))
