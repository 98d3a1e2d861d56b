"""A loopback OpenAI-compatible server for tests: deterministic answers, injectable faults.

Completions with `echo` return every prompt token's log-probability from `token_logprob`,
so a test can compute the expected scores from the same source. Faults are consumed in
order, one per request: "429" (with Retry-After: 0), "500", "hang" (sleeps past the
client's timeout), "badjson" (a 200 with a broken body), "drop" (closes the connection).
"""

from __future__ import annotations

import json
import re
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = re.compile(r"\s*\S+|\s+")


def tokenize(text: str) -> list[tuple[int, str]]:
    """(offset, token) pairs: each token is a word with its leading whitespace."""
    return [(m.start(), m.group()) for m in TOKEN.finditer(text)]


def token_logprob(preceding: str, token: str) -> float:
    """A deterministic pseudo log-probability of `token` after `preceding` text."""
    return -0.05 - (zlib.crc32(f"{preceding[-40:]}|{token}".encode()) % 700) / 100


class FakeOpenAI(ThreadingHTTPServer):
    """The server; `faults` is consumed one per request, `requests` counts requests per path."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.faults: list[str] = []
        self.always: str | None = None
        self.requests: dict[str, int] = {}
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def next_fault(self, path: str, body: dict[str, Any]) -> str | None:
        with self.lock:
            self.requests[path] = self.requests.get(path, 0) + 1
            self.bodies.append(body)
            if self.always:
                return self.always
            return self.faults.pop(0) if self.faults else None


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def log_message(self, *args: Any) -> None:
        """Keep test output quiet."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        fault = self.server.next_fault(self.path, body)
        if fault == "drop":
            self.connection.close()
            return
        if fault == "hang":
            time.sleep(3)
        if fault in ("429", "500"):
            self._send(
                int(fault),
                {"error": {"message": "injected", "type": "fault"}},
                {"Retry-After": "0"},
            )
            return
        if fault == "badjson":
            self._send_raw(200, b'{"id": "x", "choices": [')
            return
        if self.path.endswith("/chat/completions"):
            self._send(200, chat_response(body))
        else:
            self._send(200, completion_response(body))

    def _send(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self._send_raw(status, json.dumps(payload).encode(), headers)

    def _send_raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


def completion_response(body: dict[str, Any]) -> dict[str, Any]:
    prompt = body["prompt"]
    if body.get("echo"):
        pieces = [*tokenize(prompt), (len(prompt), " next")]  # one generated token
        tokens = [t for _, t in pieces]
        offsets = [o for o, _ in pieces]
        lps = [None] + [token_logprob(prompt[:o], t) for o, t in pieces[1:]]
        logprobs = {
            "tokens": tokens,
            "text_offset": offsets,
            "token_logprobs": lps,
            "top_logprobs": [None] + [{t: lp} for t, lp in zip(tokens[1:], lps[1:], strict=True)],
        }
        text = prompt + " next"
    else:
        logprobs, text = None, cut(f" answer to {prompt[-12:]!r}.\n\nQ: more", body.get("stop"))
    return {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 0,
        "model": body["model"],
        "choices": [{"index": 0, "text": text, "logprobs": logprobs, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


def chat_response(body: dict[str, Any]) -> dict[str, Any]:
    question = body["messages"][-1]["content"]
    text = cut(f"Reply to {question[-12:]!r}. Done.\n\nExtra", body.get("stop"))
    return {
        "id": "chat-1",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def cut(text: str, stop: list[str] | None) -> str:
    for s in stop or []:
        if s in text:
            text = text[: text.index(s)]
    return text


@contextmanager
def serve() -> Iterator[FakeOpenAI]:
    """Run a FakeOpenAI on a free loopback port for the duration of the block."""
    server = FakeOpenAI()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
