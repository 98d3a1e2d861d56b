"""OpenAI-compatible API backend (OpenAI, vLLM `serve`, and similar servers).

Log-likelihoods use the completions endpoint with `echo` and `logprobs`: the server
returns the log-probability of every prompt token, and the continuation's are summed.
Generation uses chat completions (`openai:`) or plain completions (`openai-completions:`).
Requests run concurrently; the client retries 429/5xx/timeouts/dropped connections
honouring Retry-After, and this module retries malformed bodies too. A request that still
fails comes back with `error` set: never cached, never scored as an empty answer.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from sbt_bench.backends.base import BackendOptions
from sbt_bench.backends.image_payload import chat_content
from sbt_bench.backends.rate_limit import RateLimiter
from sbt_bench.core.errors import SbtError
from sbt_bench.core.types import ModelSpec, Request, Response

log = logging.getLogger(__name__)


class OpenAIBackend:
    """A model behind an OpenAI-compatible HTTP API."""

    def __init__(self, spec: ModelSpec, _options: BackendOptions) -> None:
        import openai  # noqa: PLC0415 - optional dependency (the `api` extra)

        key = os.environ.get(spec.api_key_env)
        # `spec.base_url` already holds $OPENAI_BASE_URL when the spec did not name a server.
        if not key and spec.base_url is None:
            raise SbtError(
                f"model {spec.name!r}: set {spec.api_key_env} (or a base_url for a "
                "local OpenAI-compatible server)"
            )
        self.spec = spec
        self.chat = spec.backend == "openai"
        self.client = openai.OpenAI(
            api_key=key or "not-needed",  # local servers accept any key
            base_url=spec.base_url,
            timeout=spec.timeout,
            max_retries=spec.max_retries,
        )
        # Transport errors were already retried by the client (with Retry-After); a body
        # that does not parse is retried here, since the client raises on it at once.
        self.retry_here = (
            openai.APIResponseValidationError,
            ValueError,
            KeyError,
            TypeError,
            IndexError,
            AttributeError,
        )
        self.give_up = (openai.APIError,)
        self.fatal = (
            openai.AuthenticationError,
            openai.PermissionDeniedError,
            openai.NotFoundError,
        )
        self._key = key
        self.bad_request = openai.BadRequestError
        self.logprobs_refused = False
        # Concurrency is the model's own setting: --batch-size (default 8) sizes forward
        # passes of local models and must not cap requests in flight to a server.
        self.concurrency = max(1, spec.concurrency)
        self.limiter = RateLimiter.per_minute(spec.requests_per_minute, spec.tokens_per_minute)
        self.tokens_processed = 0
        self._count_lock = threading.Lock()

    @staticmethod
    def accepts_images(spec: ModelSpec) -> bool:
        """Chat completions carry images; the plain completions route cannot."""
        return spec.backend == "openai"

    def loglikelihood(self, requests: Sequence[Request]) -> Iterator[tuple[int, Response]]:
        """Summed prompt log-probabilities of each continuation (completions, echo)."""
        return self._run_all(requests, self._loglikelihood_one)

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Response]]:
        """Greedy generation, cut at the stop strings (sent to the server as `stop`)."""
        return self._run_all(requests, self._generate_one)

    def _run_all(
        self, requests: Sequence[Request], call: Callable[[Request], Response]
    ) -> Iterator[tuple[int, Response]]:
        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        try:
            futures = {pool.submit(self._with_retries, call, r): i for i, r in enumerate(requests)}
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            # On Ctrl-C or a fatal error, queued requests are dropped rather than sent (and
            # paid for) with nobody left to cache their answers.
            pool.shutdown(wait=False, cancel_futures=True)

    def _with_retries(self, call: Callable[[Request], Response], request: Request) -> Response:
        """The client retries transport errors; bodies that do not parse are retried here."""
        delay = 1.0
        estimate = estimate_tokens(request)
        for attempt in range(self.spec.max_retries + 1):
            # Every attempt is a request the provider counts, so each one waits its turn.
            self.limiter.acquire(estimate)
            try:
                response = call(request)
            except self.retry_here + self.give_up as err:
                reason = f"{type(err).__name__}: {self._redact(str(err))[:200]}"
                if isinstance(err, self.fatal):
                    # A wrong key, model name or permission fails every item alike: stop once.
                    raise SbtError(
                        f"model {self.spec.name!r}: {reason}; check {self.spec.api_key_env} "
                        "and the model name"
                    ) from None
                self.limiter.settle(estimate, 0)  # a failed request is not billed
                if attempt == self.spec.max_retries or not isinstance(err, self.retry_here):
                    log.warning("request failed after %d retries: %s", attempt, reason)
                    return Response(error=reason)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
            else:
                self.limiter.settle(estimate, used_tokens(response))
                return response
        raise AssertionError  # unreachable: the loop always returns

    def _redact(self, text: str) -> str:
        """Error bodies may echo the key (proxies do): it never reaches a log or a file."""
        return text.replace(self._key, "***") if self._key else text

    def _loglikelihood_one(self, request: Request) -> Response:
        prompt = request.context + request.continuation
        # max_tokens=1: vLLM refuses 0; the generated token lies past the prompt and is dropped.
        out = self.client.completions.create(
            model=self.spec.path,
            prompt=prompt,
            max_tokens=1,
            temperature=0.0,
            echo=True,
            logprobs=1,
        )
        logprobs: Any = out.choices[0].logprobs
        if logprobs is None or logprobs.token_logprobs is None:
            raise ValueError("the server returned no prompt logprobs (does it support echo?)")
        start, end = len(request.context), len(prompt)
        total, greedy = 0.0, True
        tops = logprobs.top_logprobs or [None] * len(logprobs.tokens)
        for token, offset, lp, top in zip(
            logprobs.tokens, logprobs.text_offset, logprobs.token_logprobs, tops, strict=True
        ):
            if not start <= offset < end:
                continue
            total += float(lp)
            greedy = greedy and bool(top) and max(top, key=lambda t: top[t]) == token
        prompt_tokens, completion_tokens = self._usage(out)
        return Response(
            logprob=total,
            is_greedy=greedy,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )

    def _generate_one(self, request: Request) -> Response:
        params = request.generation
        stop = list(params.stop)[:4] or None  # the API accepts at most four stop strings
        want_tops = params.top_logprobs > 0 and not self.logprobs_refused
        try:
            out, text, tops = self._create(request, stop, want_tops=want_tops)
        except self.bad_request:
            if not want_tops:
                raise
            # Some OpenAI-compatible servers refuse `logprobs`; the letter protocol then
            # reads the generated letter instead (and results say so per item).
            log.warning("%s refused top_logprobs; reading generated letters", self.spec.name)
            self.logprobs_refused = True
            out, text, tops = self._create(request, stop, want_tops=False)
        if text is None:
            raise ValueError("the response holds no text")
        prompt_tokens, completion_tokens = self._usage(out)
        return Response(
            text=text,
            top_logprobs=tops,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )

    def _create(
        self, request: Request, stop: list[str] | None, *, want_tops: bool
    ) -> tuple[Any, str | None, dict[str, float] | None]:
        """One generation call; returns the body, its text and the first token's top_logprobs."""
        params = request.generation
        top_n = min(params.top_logprobs, 20)
        common: dict[str, Any] = {
            "model": self.spec.path,
            "max_tokens": params.max_new_tokens,
            "temperature": 0.0,
            "stop": stop,
        }
        if self.chat:
            if want_tops:
                common |= {"logprobs": True, "top_logprobs": top_n}
            common["messages"] = [{"role": "user", "content": chat_content(request, self.spec)}]
            out: Any = self.client.chat.completions.create(**common)
            choice = out.choices[0]
            content = choice.logprobs.content if want_tops and choice.logprobs else None
            tops = {t.token: float(t.logprob) for t in content[0].top_logprobs} if content else None
            return out, choice.message.content, tops
        if request.images:
            raise SbtError(
                f"model {self.spec.name!r}: the completions route cannot send images; "
                "use openai:<model> (chat) for image tasks"
            )
        if want_tops:
            common["logprobs"] = min(top_n, 5)  # the legacy endpoint gives at most 5 per token
        out = self.client.completions.create(prompt=request.context, **common)
        choice = out.choices[0]
        first = choice.logprobs.top_logprobs if want_tops and choice.logprobs else None
        tops = {t: float(lp) for t, lp in first[0].items()} if first and first[0] else None
        return out, choice.text, tops

    def _usage(self, out: Any) -> tuple[int | None, int | None]:
        """Billed (prompt, completion) tokens of one response; also adds to tokens_processed."""
        usage = getattr(out, "usage", None)
        if usage is None:
            return None, None
        with self._count_lock:  # worker threads report usage concurrently
            self.tokens_processed += int(usage.total_tokens or 0)
        return int(usage.prompt_tokens or 0), int(usage.completion_tokens or 0)


def estimate_tokens(request: Request) -> int:
    """Tokens a request may use before its usage is known: about 4 characters a token."""
    prompt = request.context + request.continuation
    new_tokens = 1 if request.kind == "loglikelihood" else request.generation.max_new_tokens
    return len(prompt) // 4 + 1 + new_tokens


def used_tokens(response: Response) -> int | None:
    """Billed tokens of a response, None where the server reported no usage."""
    if response.prompt_tokens is None:
        return None
    return response.prompt_tokens + (response.completion_tokens or 0)
