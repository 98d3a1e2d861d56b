"""LLaVA-style image-text-to-text backend (llava-hf checkpoints and what `sbt-train` writes).

Text-only requests go through the language model exactly as in the `hf` backend (so
TruthfulQA and ETHICS scores of a VLM are comparable with its base LLM's). Requests with
images are laid out by the prompt format, batched with left padding and decoded greedily
unless the format says otherwise; images are opened only when their batch runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch

from sbt_bench.backends.generation import StopStrings, seed_of
from sbt_bench.backends.hf import HFBackend, WorkUnit
from sbt_bench.backends.hf_loading import load_tokenizer_and_model
from sbt_bench.core.errors import SbtError
from sbt_bench.core.types import ModelSpec, Request, Response
from sbt_bench.media.images import load_image
from sbt_bench.prompts.formats import PROMPT_FORMATS, PromptFormat


class LlavaBackend(HFBackend):
    """`AutoModelForImageTextToText` + `AutoProcessor` from a folder or hub id."""

    @staticmethod
    def accepts_images(_spec: ModelSpec) -> bool:
        """Image requests go through the processor with their images."""
        return True

    def _load(self) -> tuple[Any, Any]:
        self.prompt_format: PromptFormat = PROMPT_FORMATS.get(self.spec.prompt_format)
        self.processor, model = load_tokenizer_and_model(
            self.spec, self.device, self.dtype, with_images=True, offline=self.offline
        )
        tokenizer = self.processor.tokenizer
        # Batched generation appends new tokens on the right, so prompts are padded on the left.
        tokenizer.padding_side = "left"
        return tokenizer, model

    def _plan_generate(self, requests: Sequence[Request], indices: Iterable[int]) -> list[WorkUnit]:
        """Text-only requests as the `hf` backend; image requests through the processor."""
        chosen = list(indices)
        text_only = [i for i in chosen if not requests[i].images]
        with_images = [i for i in chosen if requests[i].images]
        # Sampling presets run one request at a time with a seed from the request itself,
        # so an answer never depends on which other requests shared its batch.
        size = 1 if self.prompt_format.temperature > 0 else None
        return super()._plan_generate(requests, text_only) + self._plan_generation_batches(
            requests, with_images, self._generate_with_images, batch_size=size
        )

    @torch.inference_mode()
    def _generate_with_images(
        self, requests: Sequence[Request], indices: Sequence[int]
    ) -> Iterator[tuple[int, Response]]:
        fmt = self.prompt_format
        params = requests[indices[0]].generation
        budget = min(params.max_new_tokens, fmt.max_new_tokens or params.max_new_tokens)
        stops = (*params.stop, *fmt.stop)
        prompts = [fmt.build(self.processor, requests[i]) for i in indices]
        images = [load_image(ref) for i in indices for ref in requests[i].images]
        try:
            inputs = self.processor(text=prompts, images=images, padding=True, return_tensors="pt")
        except ValueError as err:
            raise SbtError(
                f"model {self.spec.name!r}: the processor rejected the prompt ({err}); does the "
                "checkpoint's processor match its model (image token, patch size)?"
            ) from None
        inputs = inputs.to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        width = inputs["input_ids"].shape[1]
        sampling: dict[str, Any] = {"do_sample": False, "temperature": None, "top_p": None}
        if fmt.temperature > 0:
            torch.manual_seed(seed_of(requests[indices[0]]))
            sampling = {"do_sample": True, "temperature": fmt.temperature, "top_k": fmt.top_k}
        out = self.model.generate(
            **inputs,
            max_new_tokens=budget,
            pad_token_id=self.tokenizer.pad_token_id,
            stopping_criteria=[StopStrings(self.tokenizer, stops, width)],
            **sampling,
        )
        n_prompt = int(inputs["attention_mask"].sum())
        yield from self._decode_new(out[:, width:], indices, stops, n_prompt)
