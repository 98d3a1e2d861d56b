"""One spelling per server: a model's identity (and cache) must not hang on how a URL is written."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOOPBACK = "127.0.0.1"
"""What every loopback spelling becomes: the README's form, so existing caches stay valid."""


def canonical_base_url(url: str) -> str:
    """The identity form of an OpenAI-compatible server URL.

    Scheme and host are lower-cased, `localhost` and every loopback address become
    127.0.0.1; credentials, a default port and trailing slashes are dropped. The client
    still talks to the URL as given; only the fingerprint uses this form.

    Example:
        >>> canonical_base_url("HTTP://LocalHost:80/v1/")
        'http://127.0.0.1/v1'
        >>> canonical_base_url("http://127.0.0.1:8000/v1")
        'http://127.0.0.1:8000/v1'
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:  # a malformed port: leave the URL as written, the client will say
        return url
    if host == "localhost" or _is_loopback(host):
        host = _LOOPBACK
    if ":" in host:  # IPv6 literals keep their brackets
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, ""))


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
