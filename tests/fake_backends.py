"""Deterministic fake backends for end-to-end tests of image tasks, with no model at all.

`CaptionEchoBackend` loads every image it is shown (so corrupted variants are really made
and cached) and answers with the caption registered for the image's file name, or
`CORRUPTED_CAPTION` for a corrupted variant: clean captions can be made to score high and
corrupted ones low, so a test can check the drop.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import ClassVar

from sbt_bench.backends import BACKENDS, BackendOptions, ModelSpec
from sbt_bench.core.types import Request, Response
from sbt_bench.media.images import load_image, parse_image_ref

CAPTION_ECHO = "caption_echo"
CORRUPTED_CAPTION = "a blurry picture of something"
UNKNOWN_CAPTION = "a picture"


class CaptionEchoBackend:
    """Answers generation requests with `captions[file name]`; log-likelihoods are unsupported."""

    captions: ClassVar[dict[str, str]] = {}
    loaded: ClassVar[list[tuple[str, tuple[int, int]]]] = []

    def __init__(self, spec: ModelSpec, options: BackendOptions) -> None:
        self.tokens_processed = 0

    @staticmethod
    def accepts_images(_spec: ModelSpec) -> bool:
        """It answers from the image it is shown."""
        return True

    def loglikelihood(self, requests: Sequence[Request]) -> Iterator[tuple[int, Response]]:
        """Not a language model: every request fails for good."""
        for index, _ in enumerate(requests):
            yield index, Response(error="caption_echo answers generation requests only")

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Response]]:
        """The registered caption of each request's (only) image."""
        for index, request in enumerate(requests):
            (ref,) = request.images
            image = load_image(ref)
            self.loaded.append((ref, image.size))
            parsed = parse_image_ref(ref)
            if parsed.corruption is not None:
                text = CORRUPTED_CAPTION
            else:
                text = self.captions.get(parsed.path.name, UNKNOWN_CAPTION)
            self.tokens_processed += len(text.split())
            yield index, Response(text=text)


def register_fake_backends() -> None:
    """Add the fakes to BACKENDS once per process."""
    if CAPTION_ECHO not in BACKENDS:
        BACKENDS.register(CAPTION_ECHO, CaptionEchoBackend)
