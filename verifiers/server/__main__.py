"""``python -m verifiers.server`` (also ``ring-data serve``): serve the verifiers over HTTP.

Binds 127.0.0.1 by default. Any other address needs a bearer token (``--token`` or the
``RING_REWARD_TOKEN`` environment variable), or ``--no-auth`` to say that the network is trusted;
clients send ``Authorization: Bearer <token>`` or, where they cannot set headers (OpenRLHF),
``?token=<token>`` in the URL. SIGTERM / Ctrl-C stop accepting connections and finish the requests
in flight (up to ``--drain-s`` seconds) before exiting.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys


class ServeError(Exception):
    """A bad option: one line, exit 2."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.add_argument(
        "--port", type=int, default=5000, help="port (0 = any free one; the chosen one is printed)"
    )
    p.add_argument("--token", default=None, help="bearer token (default: $RING_REWARD_TOKEN)")
    p.add_argument("--no-auth", action="store_true", help="allow a non-loopback bind without a token")
    p.add_argument("--workers", type=int, default=None, help="verifier processes (default: all cores)")
    p.add_argument("--timeout", type=float, default=10.0, help="per-item timeout in seconds")
    p.add_argument(
        "--max-timeout", type=float, default=60.0, help="largest per-item timeout a request may ask"
    )
    p.add_argument("--max-items", type=int, default=4096, help="items per request")
    p.add_argument("--max-body-mb", type=float, default=16.0, help="request body limit (MiB)")
    p.add_argument("--max-batch", type=int, default=8, help="items per verify_batch call (one per worker)")
    p.add_argument(
        "--default-domain", default="math", help="domain of /get_reward labels that are bare answers"
    )
    p.add_argument(
        "--drain-s", type=float, default=60.0, help="on SIGTERM, wait this long for in-flight requests"
    )
    p.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build(args: argparse.Namespace):
    """The uvicorn server and its bound socket for ``args`` (raises :class:`ServeError`)."""
    try:
        import uvicorn

        from .app import TOKEN_ENV, ServerSettings, create_app
    except ImportError as e:
        raise ServeError(
            f"the reward server needs the 'server' extra ({e.name} is missing): pip install 'ring-toolkit[server]'"
        ) from None
    from verifiers import domains

    token = args.token or os.environ.get(TOKEN_ENV) or None
    if not _loopback(args.host) and not token and not args.no_auth:
        raise ServeError(
            f"--host {args.host} is reachable from other machines: give --token (or ${TOKEN_ENV}), "
            "or --no-auth on a trusted network"
        )
    for name in ("workers", "max_items", "max_batch"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ServeError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if not 0 < args.timeout <= args.max_timeout:
        raise ServeError(f"--timeout must be in (0, --max-timeout={args.max_timeout:g}], got {args.timeout}")
    if args.default_domain not in domains():
        raise ServeError(f"--default-domain {args.default_domain!r} is not a verifiers domain")
    settings = ServerSettings(
        workers=args.workers,
        timeout=args.timeout,
        max_timeout=args.max_timeout,
        max_items=args.max_items,
        max_body_bytes=int(args.max_body_mb * (1 << 20)),
        max_batch=args.max_batch,
        token=token,
        default_domain=args.default_domain,
    )
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as e:
        sock.close()
        raise ServeError(f"cannot bind {args.host}:{args.port}: {e.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    config = uvicorn.Config(
        create_app(settings),
        log_level=args.log_level,
        access_log=args.log_level in ("info", "debug"),
        timeout_graceful_shutdown=args.drain_s,
        timeout_keep_alive=30,
        lifespan="on",
    )
    return uvicorn.Server(config), sock, settings


def serve(args: argparse.Namespace) -> int:
    server, sock, settings = build(args)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    auth = "bearer token required" if settings.token else "no authentication"
    print(
        f"reward server: http://{shown}:{port} (POST /get_reward, POST /verify, GET /health; {auth})",
        file=sys.stderr,
        flush=True,
    )
    server.run(sockets=[sock])
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m verifiers.server", description=__doc__.splitlines()[0])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return serve(args)
    except ServeError as e:
        print(f"verifiers.server: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
