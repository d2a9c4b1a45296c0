"""`make demo`: the main job on the embedded default (grows into the full pipeline as capabilities land)."""

from __future__ import annotations

import sys


def main() -> int:
    print("Ring toolkit demo: the pipeline stages are being built; see README.md.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
