"""The verifiers over HTTP, for trainers that call rewards remotely (OpenRLHF's ``--reward.remote_url
http://...``, or any client of the native batch endpoint). Needs the ``server`` extra (Starlette,
uvicorn); ``import verifiers`` never imports this package.

    python -m verifiers.server --port 5000            # or: ring-data serve --port 5000
    curl -s 127.0.0.1:5000/health

Endpoints: ``POST /get_reward`` (OpenRLHF's remote reward protocol: ``{"query", "prompts", "labels"}``
-> ``{"rewards", "scores", "extra_logs"}``), ``POST /verify`` (``{"items": [{response, reference,
domain, options?}], "timeout"?}`` -> ``{"results": [VerifyResult...]}``), ``GET /health``. Items of
concurrent requests are batched into ``verify_batch`` calls on the one persistent worker pool.
"""

from .app import ServerSettings, create_app

__all__ = ["ServerSettings", "create_app"]
