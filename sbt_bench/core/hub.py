"""One quick reachability probe of the Hugging Face hub per process, before any hub call.

Unreachable, `datasets` and `transformers` retry each request with back-off: 10-20 warnings
and most of a minute before the error. One short connection attempt tells the same in
seconds; on failure the libraries are switched to offline mode, so they answer from the local
cache when it holds the files and otherwise fail at once with their "not cached" error.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import sys
import threading
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

PROBE_SECONDS = 3.0
_OFFLINE = "HF_HUB_OFFLINE"


def ensure_hub_or_offline() -> str | None:
    """Probe the hub once; return why it is unreachable (offline mode now on), or None.

    Does nothing (and returns None) where offline mode is already chosen.
    """
    if os.environ.get(_OFFLINE, "").upper() in ("1", "ON", "YES", "TRUE"):
        return None
    reason = _probe(_endpoint())
    if reason is not None:
        log.info("Hugging Face hub unreachable (%s); using the local cache only", reason)
        _go_offline()
    return reason


def _endpoint() -> str:
    try:
        from huggingface_hub import constants  # noqa: PLC0415 - only where the hub is used
    except ImportError:
        return "https://huggingface.co"
    return str(constants.ENDPOINT)


@functools.cache
def _probe(endpoint: str) -> str | None:
    """Why a TCP connection to the endpoint fails within PROBE_SECONDS, else None.

    Name resolution has no timeout of its own, so the attempt runs in a daemon thread that
    is abandoned when it overruns.
    """
    url = urlsplit(endpoint)
    host = url.hostname or endpoint
    port = url.port or (443 if url.scheme == "https" else 80)
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=PROBE_SECONDS).close()
            outcome.append(None)
        except OSError as err:
            outcome.append(f"cannot connect to {host}:{port}: {err}")

    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(PROBE_SECONDS)
    return outcome[0] if outcome else f"no answer from {host}:{port} in {PROBE_SECONDS:.0f} s"


def _go_offline() -> None:
    """Offline mode for this process, also in libraries that read the setting at import."""
    os.environ[_OFFLINE] = "1"
    for module, names in (
        ("huggingface_hub.constants", ("HF_HUB_OFFLINE",)),
        ("datasets.config", ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")),
    ):
        for name in names if module in sys.modules else ():
            setattr(sys.modules[module], name, True)
