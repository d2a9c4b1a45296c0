"""The clean stages after ingest, one module each behind one protocol (:mod:`.base`): decontamination,
exact dedup, near dedup. The run (``ring_data.clean.pipeline``) lists them in order."""
