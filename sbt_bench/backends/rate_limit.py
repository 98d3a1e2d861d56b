"""Requests-per-minute and tokens-per-minute limits shared by all worker threads of a backend.

Providers enforce both limits over a sliding minute; a token bucket refilled continuously
at `limit / 60` per second, holding at most one minute's allowance, keeps a client under
them without bursting into 429s. Token counts are known only after a response arrives,
so a request reserves an estimate up front and the difference is settled afterwards: an
underestimate leaves the bucket in debt, which delays the next requests instead.

The bucket holds one second's allowance (at least one unit): providers enforce their
per-minute limits over short windows too, so a burst of a whole minute's requests at
start-up would draw 429s although the average stays under the limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_SECONDS_PER_MINUTE = 60.0


@dataclass
class TokenBucket:
    """A thread-safe bucket of `per_minute` units, refilled continuously.

    Example:
        >>> bucket = TokenBucket(per_minute=120.0)  # two per second
        >>> bucket.take(1.0)  # a full bucket serves at once; a third take would wait
    """

    per_minute: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _level: float = field(init=False)
    _stamp: float = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._level = self.capacity
        self._stamp = self.clock()

    @property
    def capacity(self) -> float:
        """The most units the bucket holds: one second's allowance, at least one unit."""
        return max(1.0, self.per_minute / _SECONDS_PER_MINUTE)

    def take(self, amount: float) -> None:
        """Block until `amount` units are available, then remove them.

        An amount larger than the capacity waits for a full bucket and leaves it in debt
        (repaid before the next taker goes), so the average rate stays at the limit.
        """
        with self._lock:
            # Waiting inside the lock serves threads in arrival order and keeps the level
            # consistent; the other threads would only wait for the same refill anyway.
            self._refill()
            needed = min(amount, self.capacity)
            if self._level < needed:
                self.sleep((needed - self._level) * _SECONDS_PER_MINUTE / self.per_minute)
                self._refill()
            self._level -= amount

    def adjust(self, amount: float) -> None:
        """Add `amount` units (negative: remove them, possibly into debt) without waiting."""
        with self._lock:
            self._refill()
            self._level = min(self.capacity, self._level + amount)

    def _refill(self) -> None:
        now = self.clock()
        earned = (now - self._stamp) * self.per_minute / _SECONDS_PER_MINUTE
        self._level = min(self.capacity, self._level + earned)
        self._stamp = now


@dataclass(frozen=True)
class RateLimiter:
    """Both limits of one model; either may be None (no limit of that kind)."""

    requests: TokenBucket | None
    tokens: TokenBucket | None

    @classmethod
    def per_minute(cls, requests: float | None, tokens: float | None) -> RateLimiter:
        """A limiter for `requests` and `tokens` per minute (None: unlimited)."""
        return cls(
            TokenBucket(requests) if requests else None, TokenBucket(tokens) if tokens else None
        )

    def acquire(self, estimated_tokens: int) -> None:
        """Wait for one request slot and `estimated_tokens` tokens."""
        if self.requests is not None:
            self.requests.take(1.0)
        if self.tokens is not None:
            self.tokens.take(float(estimated_tokens))

    def settle(self, estimated_tokens: int, used_tokens: int | None) -> None:
        """Correct the token reservation once the response says what it really used."""
        if self.tokens is not None and used_tokens is not None:
            self.tokens.adjust(float(estimated_tokens - used_tokens))
