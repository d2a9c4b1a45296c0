"""``python -m verifiers.games.generate --game countdown --n 100 --seed 0 -o out.jsonl``: training rows.

Rows follow docs/architecture.md §2: ``{"id", "domain", "prompt", "reference", "source", "meta"}``; the
same game, parameters and seed always give the same rows. A game is any domain registered with a
generator (``DomainInfo(generator=...)``): the five built-in logic games and user domains alike.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from typing import Any

from ..registry import game_domains, get_generator


def generate_rows(game: str, n: int, seed: int = 0, **params: Any) -> list[dict[str, Any]]:
    """``n`` rows of ``game``; row i is generated from its own seed so the rows do not depend on ``n``."""
    if game not in game_domains():
        raise ValueError(f"unknown game {game!r}; choose from {', '.join(game_domains())}")
    generate = get_generator(game)
    rows = []
    for i in range(n):
        rng = random.Random(f"{game}:{seed}:{i}")
        body = generate(rng, **params)
        key = json.dumps([game, body["prompt"], body["reference"]], sort_keys=True)
        rows.append(
            {
                "id": f"{game}-{hashlib.sha1(key.encode()).hexdigest()[:12]}",
                "domain": game,
                "prompt": body["prompt"],
                "reference": body["reference"],
                "source": f"{generate.__module__}:seed={seed}",
                "meta": {**body.get("meta", {}), "seed": seed, "index": i},
            }
        )
    return rows


def _param(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m verifiers.games.generate", description=__doc__.splitlines()[0]
    )
    p.add_argument("--game", required=True, choices=game_domains())
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default="-", help="JSONL file (default stdout)")
    p.add_argument(
        "--param", action="append", default=[], metavar="K=V", help="generator option, e.g. size=9"
    )
    args = p.parse_args(argv)
    try:
        rows = generate_rows(args.game, args.n, args.seed, **dict(_param(t) for t in args.param))
    except TypeError as e:
        p.error(f"bad --param: {e}")
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(f"wrote {len(rows)} {args.game} rows to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
