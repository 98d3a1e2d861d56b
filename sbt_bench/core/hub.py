"""One quick reachability probe of the Hugging Face hub per process, before any hub call.

Unreachable, `datasets` and `transformers` retry each request with back-off: 10-20 warnings
and most of a minute before the error. One short connection attempt tells the same in
seconds; on failure the call that needs the hub gets offline access (`HubAccess`), so the
libraries answer from the local cache when it holds the files and otherwise fail at once
with their "not cached" error. Offline mode is a value handed to each hub call, never a
process-wide switch: `os.environ` is never written, and the libraries' own settings are
put back when the call ends (`offline_libraries`).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

PROBE_SECONDS = 3.0
_OFFLINE = "HF_HUB_OFFLINE"
_LIBRARY_SETTINGS = (
    ("huggingface_hub.constants", ("HF_HUB_OFFLINE",)),
    ("datasets.config", ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")),
)


@dataclass(frozen=True)
class HubAccess:
    """How one call may use the hub: online, or from the local cache only (and why)."""

    offline: bool
    reason: str | None = None
    """Why the hub is unreachable, when a probe found it so (None: chosen, or reachable)."""


def check_hub(offline: bool | None = None) -> HubAccess:
    """The hub access a call gets: offline when asked, else as one probe finds the hub.

    `offline` None follows `$HF_HUB_OFFLINE` where it is set, else probes (once a process:
    the verdict is remembered, not the mode).
    """
    if offline is None and os.environ.get(_OFFLINE, "").upper() in ("1", "ON", "YES", "TRUE"):
        offline = True
    if offline is not None:
        return HubAccess(offline)
    reason = _probe(_endpoint())
    if reason is not None:
        log.info("Hugging Face hub unreachable (%s); using the local cache only", reason)
    return HubAccess(reason is not None, reason)


@contextmanager
def offline_libraries(access: HubAccess) -> Iterator[None]:
    """Offline `access`: `datasets` and `huggingface_hub` use the local cache in the block.

    Their settings are put back on leaving it. The libraries read their offline setting
    from module attributes at call time, and `datasets` takes no per-call switch, hence
    the attributes, scoped to the call.
    """
    if not access.offline:
        yield
        return
    import huggingface_hub.constants  # noqa: PLC0415, F401 - loads the module set below

    saved = [
        (sys.modules[module], name, getattr(sys.modules[module], name))
        for module, names in _LIBRARY_SETTINGS
        if module in sys.modules
        for name in names
        if hasattr(sys.modules[module], name)
    ]
    for module_object, name, _ in saved:
        setattr(module_object, name, True)
    try:
        yield
    finally:
        for module_object, name, value in saved:
            setattr(module_object, name, value)


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
