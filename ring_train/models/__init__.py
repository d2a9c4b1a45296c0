"""Policy models: loading a local HF checkpoint, and the tiny in-code model used on CPU."""
