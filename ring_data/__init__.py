"""Data curation for RL: read/write problem rows, clean (filters, dedup, decontamination), verify, annotate."""
