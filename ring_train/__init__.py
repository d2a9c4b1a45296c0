"""Trainer: C3PO token budget, GRPO-family losses, two-stage domain schedule, embedded and OpenRLHF backends."""
