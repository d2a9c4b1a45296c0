"""Shipped benchmark indexes (hashed n-grams + manifests; no benchmark text). Rebuilt by
``python -m ring_data.clean.build_indexes``."""
