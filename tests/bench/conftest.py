"""Fixtures of the sbt_bench tests: the loopback fake OpenAI server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_openai import SECRET, FakeOpenAI, serve


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """A fake OpenAI-compatible server on 127.0.0.1, with the client's key and URL env set."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with serve() as fake:
        yield fake
