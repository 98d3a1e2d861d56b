"""LLaVA-style image-text-to-text backend (llava-hf checkpoints and what `sbt-train` writes).

Text-only requests go through the language model exactly as in the `hf` backend (so
TruthfulQA and ETHICS scores of a VLM are comparable with its base LLM's). Requests with
images are laid out by the prompt format, batched with left padding and decoded greedily
unless the format says otherwise; images are opened only when their batch runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from sbt_bench.backends.hf import HFBackend, StopStrings, cut_at_stop
from sbt_bench.backends.hf_loading import call_loader, merge_adapter
from sbt_bench.backends.prompt_formats import PROMPT_FORMATS, PromptFormat
from sbt_bench.errors import SbtError
from sbt_bench.images import load_image
from sbt_bench.types import GenerationParams, Request, Response


class LlavaBackend(HFBackend):
    """`AutoModelForImageTextToText` + `AutoProcessor` from a folder or hub id."""

    def _load(self) -> tuple[Any, Any]:
        from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: PLC0415

        spec = self.spec
        self.prompt_format: PromptFormat = PROMPT_FORMATS.get(spec.prompt_format)
        kwargs: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
        if spec.revision:
            kwargs["revision"] = spec.revision
        # An adapter folder saved with its processor (sbt-train's LoRA stage) carries the chat
        # template the adapter was trained with, so its processor wins over the base's.
        adapter = spec.adapter
        has_own = adapter is not None and (Path(adapter) / "processor_config.json").is_file()
        source = replace(spec, path=adapter) if adapter is not None and has_own else spec
        self.processor = call_loader(AutoProcessor.from_pretrained, source, "processor", kwargs)
        loader = AutoModelForImageTextToText.from_pretrained
        model = call_loader(loader, spec, "model", kwargs | {"dtype": self.dtype})
        if spec.adapter:
            model = merge_adapter(model, spec)
        tokenizer = self.processor.tokenizer
        # Batched generation appends new tokens on the right, so prompts are padded on the left.
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        return tokenizer, model.to(self.device).eval()

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Response]]:
        """Text-only requests as the `hf` backend; image requests through the processor."""
        text_only = [i for i, r in enumerate(requests) if not r.images]
        with_images = [i for i, r in enumerate(requests) if r.images]
        for j, response in super().generate([requests[i] for i in text_only]):
            yield text_only[j], response
        by_settings: dict[GenerationParams, list[int]] = {}
        for i in with_images:
            by_settings.setdefault(requests[i].generation, []).append(i)
        # Sampling presets run one request at a time with a seed from the request itself,
        # so an answer never depends on which other requests shared its batch.
        size = 1 if self.prompt_format.temperature > 0 else None
        for indices in by_settings.values():
            indices.sort(key=lambda i: (-len(requests[i].context), i))
            yield from self._in_batches(
                indices,
                lambda batch: list(self._generate_with_images(requests, batch)),
                batch_size=size,
            )

    @torch.inference_mode()
    def _generate_with_images(
        self, requests: Sequence[Request], indices: Sequence[int]
    ) -> Iterator[tuple[int, Response]]:
        fmt = self.prompt_format
        params = requests[indices[0]].generation
        budget = min(params.max_new_tokens, fmt.max_new_tokens or params.max_new_tokens)
        stops = (*params.stop, *fmt.stop)
        prompts = [fmt.render(self.processor, requests[i]) for i in indices]
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
            torch.manual_seed(_seed_of(requests[indices[0]]))
            sampling = {"do_sample": True, "temperature": fmt.temperature, "top_k": fmt.top_k}
        out = self.model.generate(
            **inputs,
            max_new_tokens=budget,
            pad_token_id=self.tokenizer.pad_token_id,
            stopping_criteria=[StopStrings(self.tokenizer, stops, width)],
            **sampling,
        )
        new_tokens = out[:, width:]
        generated = int((new_tokens != self.tokenizer.pad_token_id).sum())
        self.tokens_generated += generated
        self.tokens_processed += int(inputs["attention_mask"].sum()) + generated
        for index, tokens in zip(indices, new_tokens, strict=True):
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            yield index, Response(text=cut_at_stop(text, stops))


def _seed_of(request: Request) -> int:
    return int(hashlib.sha256(request.key().encode()).hexdigest()[:8], 16)
