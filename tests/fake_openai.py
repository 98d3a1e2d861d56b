"""A loopback OpenAI-compatible server for tests: deterministic answers, injectable faults.

Completions with `echo` return every prompt token's log-probability from `prompt_scorer`
(by default `token_logprob` over `tokenize`; a test may plug in a real model), so a test
can compute the expected scores from the same source. Chat answers a letter-options
prompt with the most likely letter and, when asked, the first token's `top_logprobs`.
Usage counts `tokenize` tokens. Faults are consumed in order, one per request: "429"
(with Retry-After: 1, which the client honours), "500", "hang" (sleeps past the client's
timeout), "badjson" (a 200 with a broken body), "drop" (closes the connection), "401"
(rejects the key, echoing it). `latency` delays every answer.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The API key the tests set: it must never appear in any file a run writes.
SECRET = "sk-test-secret-0123456789"

TOKEN = re.compile(r"\s*\S+|\s+")
OPTION = re.compile(r"^([A-Z])\. ", re.MULTILINE)
PromptScorer = Callable[[str], list[tuple[int, str, float | None]]]


def tokenize(text: str) -> list[tuple[int, str]]:
    """(offset, token) pairs: each token is a word with its leading whitespace."""
    return [(m.start(), m.group()) for m in TOKEN.finditer(text)]


def token_logprob(preceding: str, token: str) -> float:
    """A deterministic pseudo log-probability of `token` after `preceding` text."""
    return -0.05 - (zlib.crc32(f"{preceding[-40:]}|{token}".encode()) % 700) / 100


def score_prompt(prompt: str) -> list[tuple[int, str, float | None]]:
    """(offset, token, log-probability) of every prompt token; the first has none."""
    pieces = tokenize(prompt)
    return [
        (o, t, None if i == 0 else token_logprob(prompt[:o], t)) for i, (o, t) in enumerate(pieces)
    ]


def letter_logprobs(prompt: str) -> dict[str, float]:
    """Normalised log-probabilities of the option letters listed in a prompt ({} if none)."""
    letters = OPTION.findall(prompt)
    if not letters:
        return {}
    raw = {letter: token_logprob(prompt, letter) for letter in letters}
    norm = math.log(sum(math.exp(v) for v in raw.values()))
    return {letter: v - norm for letter, v in raw.items()}


class FakeOpenAI(ThreadingHTTPServer):
    """The server; `faults` is consumed one per request, `requests` counts requests per path."""

    daemon_threads = True
    # The default backlog of 5 drops connection attempts when 32 requests arrive at once,
    # and each dropped SYN costs the client a 1 s retransmit: a bottleneck of the fake.
    request_queue_size = 256

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.faults: list[str] = []
        self.always: str | None = None
        self.requests: dict[str, int] = {}
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.latency = 0.0
        self.chat_logprobs = True  # False: ignore `logprobs` like servers without support
        self.refuse_logprobs = False  # True: answer 400 to any request asking for logprobs
        self.prompt_scorer: PromptScorer = score_prompt

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
        if self.server.latency:
            time.sleep(self.server.latency)
        if self.server.refuse_logprobs and body.get("logprobs"):
            self._send(400, {"error": {"message": "logprobs unsupported", "type": "invalid"}})
            return
        if fault == "drop":
            self.connection.close()
            return
        if fault == "hang":
            time.sleep(3)
        if fault == "401":  # echoes the key, as some proxies do: it must be redacted
            key = self.headers.get("Authorization", "").removeprefix("Bearer ")
            self._send(401, {"error": {"message": f"bad key {key}", "type": "auth"}})
            return
        if fault in ("429", "500"):
            self._send(
                int(fault),
                {"error": {"message": "injected", "type": "fault"}},
                {"Retry-After": "1"},
            )
            return
        if fault == "badjson":
            self._send_raw(200, b'{"id": "x", "choices": [')
            return
        if self.path.endswith("/chat/completions"):
            self._send(200, chat_response(body, with_logprobs=self.server.chat_logprobs))
        else:
            self._send(200, completion_response(body, self.server.prompt_scorer))

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


def completion_response(body: dict[str, Any], scorer: PromptScorer) -> dict[str, Any]:
    prompt = body["prompt"]
    if body.get("echo"):
        scored = [*scorer(prompt), (len(prompt), " next", -1.0)]  # one generated token
        tokens = [t for _, t, _ in scored]
        lps = [lp for _, _, lp in scored]
        logprobs: dict[str, Any] | None = {
            "tokens": tokens,
            "text_offset": [o for o, _, _ in scored],
            "token_logprobs": lps,
            "top_logprobs": [
                None if lp is None else {t: lp} for t, lp in zip(tokens, lps, strict=True)
            ],
        }
        text = prompt + " next"
    else:
        text = cut(f" answer to {prompt[-12:]!r}.\n\nQ: more", body.get("stop"))
        tops = letter_logprobs(prompt)
        logprobs = None
        if body.get("logprobs") and tops:
            text = max(tops, key=lambda k: tops[k])
            logprobs = {
                "tokens": [text],
                "text_offset": [0],
                "token_logprobs": [tops[text]],
                "top_logprobs": [
                    dict(sorted(tops.items(), key=lambda kv: -kv[1])[: body["logprobs"]])
                ],
            }
    return {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 0,
        "model": body["model"],
        "choices": [{"index": 0, "text": text, "logprobs": logprobs, "finish_reason": "length"}],
        "usage": usage(prompt, text),
    }


def usage(prompt: str, completion: str) -> dict[str, int]:
    """Tokens as `tokenize` counts them, so tests can predict the usage figures."""
    p, c = len(tokenize(prompt)), len(tokenize(completion))
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def message_text(content: str | list[dict[str, Any]]) -> tuple[str, int]:
    """The text of a user message and how many images it carries."""
    if isinstance(content, str):
        return content, 0
    text = "".join(part["text"] for part in content if part["type"] == "text")
    return text, sum(part["type"] == "image_url" for part in content)


def chat_response(body: dict[str, Any], *, with_logprobs: bool) -> dict[str, Any]:
    question, n_images = message_text(body["messages"][-1]["content"])
    letters = letter_logprobs(question)
    if "Suppose you are a smart teacher" in question:  # a GAVIE judge prompt
        text = judge_reply(question)
    elif letters:  # the letter protocol: answer with the most likely letter
        text = max(letters, key=lambda k: letters[k])
    else:
        seen = f" Seen {n_images} image(s)." if n_images else ""
        text = cut(f"Reply to {question[-12:]!r}.{seen} Done.\n\nExtra", body.get("stop"))
    logprobs = None
    if with_logprobs and body.get("logprobs"):
        first = text.split(" ")[0] or text
        tops = letters or {first: -0.1, "The": -2.5}
        ranked = sorted(tops.items(), key=lambda kv: -kv[1])[: body.get("top_logprobs") or 1]
        entry = [{"token": t, "logprob": lp, "bytes": None} for t, lp in ranked]
        logprobs = {
            "content": [
                {
                    "token": first,
                    "logprob": tops.get(first, -0.1),
                    "bytes": None,
                    "top_logprobs": entry,
                }
            ]
        }
    return {
        "id": "chat-1",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": logprobs,
                "finish_reason": "stop",
            }
        ],
        "usage": usage(question, text),
    }


def judge_reply(prompt: str) -> str:
    """A GAVIE verdict: relevancy 7 and accuracy 6, unreadable when the item says MALFORMED."""
    if "MALFORMED" in prompt:
        return "I am unable to score these answers."
    return (
        "Relevancy:\nscore of the answer1: 7\nreason: follows the instruction\n\n"
        "Accuracy:\nscore of the answer1: 6\nreason: mostly matches the boxes\n"
    )


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
