"""``ring-data serve``: the verifiers over HTTP (OpenRLHF's remote reward protocol + a batch endpoint)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    from verifiers.server.__main__ import add_arguments as add

    add(p)


def run(args: argparse.Namespace) -> int:
    from ring_data.errors import UserError
    from verifiers.server.__main__ import ServeError, serve

    try:
        return serve(args)
    except ServeError as e:
        raise UserError(str(e)) from None
