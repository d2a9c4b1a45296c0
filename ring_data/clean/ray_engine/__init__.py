"""``--engine ray``: the whole clean run on a Ray cluster, with the local engine's output byte for byte.

Every step hands the rows it is given to the local engine's own function, so the decisions (and the
evidence written for them) are the local engine's by construction:

- ingest (:mod:`.shards`): the inputs are cut into byte ranges; a Ray task per range runs
  ``ingest_segments`` (read, validate, filters, tokenise) and checks the rows against the benchmark
  indexes, which are put in the object store once. The per-row arrays stay in the object store, one
  object per range; the driver keeps what the writer needs (ids, domains, filter decisions, benchmark
  hits) and appends each range's spooled rows to its spool in input order.
- exact dedup (:mod:`.exact`): a hash shuffle on the exact-dedup key, so each partition holds whole
  groups and runs ``exact_duplicates`` on them.
- near dedup (:mod:`.near`): MinHash band keys (and the rows of small same-number groups) shuffled to
  bucket tasks, candidate pairs confirmed by exact Jaccard next to their documents, connected
  components on the driver over the edge list, then each partition of whole linked groups resolved by
  ``near_duplicates``.
- decontamination's optional semantic pass, writing the output and the report: on the driver.

The cluster is the one at ``RAY_ADDRESS``, else Ray's own default (:mod:`ring_data.raycluster`).
"""

from ...raycluster import require

require()  # before the modules below import ray: without it, one clear line

from .steps import RaySteps  # noqa: E402

__all__ = ["RaySteps"]
