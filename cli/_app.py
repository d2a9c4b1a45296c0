"""Shared dispatcher for ``ring-data`` and ``ring-train``.

Each verb lives in its own module ``cli/<module>.py`` exposing ``add_arguments(parser)`` and
``run(args) -> int``. A verb whose module is not there yet exits 2 with one line. User errors
(``ring_data.errors.UserError``) print one line and exit 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from dataclasses import dataclass


@dataclass(frozen=True)
class Verb:
    name: str
    module: str  # e.g. "cli.data_clean"
    help: str


def _load(verb: Verb):
    try:
        return importlib.import_module(verb.module)
    except ModuleNotFoundError as e:
        if e.name == verb.module:
            return None
        raise


def build_parser(prog: str, description: str, verbs: list[Verb]) -> tuple[argparse.ArgumentParser, dict]:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    modules = {}
    for verb in verbs:
        module = _load(verb)
        modules[verb.name] = module
        p = sub.add_parser(
            verb.name, help=verb.help + ("" if module else " (not available yet)"), description=verb.help
        )
        p.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks and debug logs"
        )
        if module is not None:
            module.add_arguments(p)
        else:
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser, modules


def main(prog: str, description: str, verbs: list[Verb], argv: list[str] | None = None) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads (trainers.md §9)
    parser, modules = build_parser(prog, description, verbs)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not args.verb:
        parser.print_help()
        return 2
    module = modules[args.verb]
    if module is None:
        print(f"{prog} {args.verb}: not available yet in this version", file=sys.stderr)
        return 2
    from ring_data.errors import UserError

    try:
        return int(module.run(args) or 0)
    except UserError as e:
        if args.debug:
            traceback.print_exc()
        print(f"{prog} {args.verb}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog} {args.verb}: interrupted", file=sys.stderr)
        return 130
