"""Shared dispatcher for ``ring-data`` and ``ring-train``.

Each verb lives in its own module ``cli/<module>.py`` exposing ``add_arguments(parser)`` and
``run(args) -> int``. A verb whose module is not there yet exits 2 with one line. A failure prints one
line and exits non-zero (user errors 2, errors of the environment 1: see ``cli._errors``); ``--debug``
shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from dataclasses import dataclass

from . import _errors


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
        code = int(module.run(args) or 0)
        if sys.stdout is not None:
            sys.stdout.flush()  # here, not at exit: a reader that went away is handled below
        return code
    except UserError as e:
        return _fail(args, f"{prog} {args.verb}: error: {e}", _errors.EXIT_USER)
    except KeyboardInterrupt:
        return _fail(args, f"{prog} {args.verb}: interrupted", 130, show_traceback=False)
    except Exception as e:
        if isinstance(e, BrokenPipeError) and _errors.pipe_closed():
            _errors.silence_output()
            return _errors.EXIT_BROKEN_PIPE
        line = _errors.environment_error(e, getattr(args, "output", None) or getattr(args, "run_dir", None))
        if line is None:
            raise  # a bug: its traceback is the report
        return _fail(args, f"{prog} {args.verb}: error: {line}", _errors.EXIT_ENVIRONMENT)


def _fail(args: argparse.Namespace, line: str, code: int, *, show_traceback: bool = True) -> int:
    """One line on stderr (the traceback before it with --debug); a stderr that is gone is no error."""
    try:
        if args.debug and show_traceback:
            traceback.print_exc()
        print(line, file=sys.stderr)
    except OSError:
        pass
    if _errors.pipe_closed():
        _errors.silence_output()
    return code
