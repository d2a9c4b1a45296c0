"""``ring-data clean``: filters, exact + near dedup and benchmark decontamination (docs/clean.md).

The run is :func:`ring_data.clean.pipeline.clean`: :mod:`.ingest` (read, validate, :mod:`.filters`,
tokenise; in :mod:`.workers` processes for big input) -> :mod:`.stages` (decontamination, exact dedup,
near dedup; one protocol) -> :mod:`.write`, resumable through :mod:`.resume`. This package imports
nothing itself: the command imports :mod:`.workers` first to start its processes early.
"""
