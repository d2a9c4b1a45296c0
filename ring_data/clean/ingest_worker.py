"""Entry point of one ingest worker process: ``python -m ring_data.clean.ingest_worker JOB.pkl``
(a module of its own so the pickled results name ``ring_data.clean.ingest``, not ``__main__``)."""

import sys

from ring_data.clean.ingest import worker_main
from ring_data.runtime import numpy_without_hugepages

if __name__ == "__main__":
    import os

    if os.environ.get("RING_NUMPY_HUGEPAGES", "0") != "1":
        numpy_without_hugepages()
    raise SystemExit(worker_main(sys.argv[1]))
