"""Entry point of one ingest worker process: ``python -m ring_data.clean.ingest_worker JOB.pkl``
(a module of its own so the pickled results name ``ring_data.clean.ingest``, not ``__main__``)."""

import sys

from ring_data.clean.ingest import worker_main

if __name__ == "__main__":
    raise SystemExit(worker_main(sys.argv[1]))
