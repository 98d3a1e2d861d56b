"""Frozen values that cross module boundaries: samples, requests to a backend, and its responses."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

RequestKind = Literal["loglikelihood", "generate"]


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Greedy-decoding settings of a generation request.

    `top_logprobs` > 0 asks for the most likely first tokens and their log-probabilities
    (the chat letter protocol for multiple choice); backends that cannot give them ignore it.
    """

    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    top_logprobs: int = 0


@dataclass(frozen=True, slots=True)
class Sample:
    """One benchmark item after parsing, ready to become requests.

    Attributes:
        id: stable identifier (file position), used in samples files and caches.
        context: the full text the model conditions on (preamble included).
        choices: continuations scored by log-likelihood (multiple choice only).
        gold: indices of the correct choices (one for mc1 and ETHICS, several for mc2).
        references: true reference answers (generation tasks).
        negatives: false reference answers (generation tasks).
        images: image references the model sees with the context (see `sbt_bench.images`).
        subset: the breakdown an item is reported under (MME subtask, OODCV situation, ...).
        pair: items sharing a non-empty `pair` are scored together (MME's two questions
            per image).
        cluster: items sharing a non-empty `cluster` are not independent (one image's
            questions); standard errors and bootstraps treat each cluster as one unit.
    """

    id: str
    context: str
    choices: tuple[str, ...] = ()
    gold: tuple[int, ...] = ()
    references: tuple[str, ...] = ()
    negatives: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    subset: str = ""
    pair: str = ""
    cluster: str = ""


@dataclass(frozen=True, slots=True)
class Request:
    """What a backend is asked: the log-likelihood of a continuation, or a greedy generation.

    `images` are image references (paths, or corrupted variants of them) shown with the context.
    """

    kind: RequestKind
    context: str
    continuation: str = ""
    generation: GenerationParams = field(default_factory=GenerationParams)
    images: tuple[str, ...] = ()

    def key(self) -> str:
        """Return a stable hash of everything that determines the response."""
        payload: list[object] = [self.kind, self.context, self.continuation]
        if self.kind == "generate":
            payload += [self.generation.max_new_tokens, list(self.generation.stop)]
            if self.generation.top_logprobs:  # only when set, so existing cache keys stay valid
                payload.append({"top_logprobs": self.generation.top_logprobs})
        if self.images:  # appended only when present, so text-only keys never change
            payload.append(list(self.images))
        blob = json.dumps(payload, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True, slots=True)
class Response:
    """A backend's answer to one request; `logprob`/`is_greedy` or `text` is set by kind.

    `error` marks a request that failed for good (an API error after the last retry): it
    is never cached, and its item is counted as failed rather than scored.
    `top_logprobs` maps the most likely first generated tokens to their log-probabilities
    (when asked for and given); `prompt_tokens`/`completion_tokens` are the API's billed
    usage (None where the backend does not bill). `judgement` is an LLM judge's text about
    this response (judged tasks only; attached after the fact, never cached with it).
    """

    logprob: float | None = None
    is_greedy: bool | None = None
    text: str | None = None
    error: str | None = None
    top_logprobs: Mapping[str, float] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    judgement: str | None = None
