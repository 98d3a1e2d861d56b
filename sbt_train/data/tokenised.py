"""Tokenise conversations once, through `datasets.map`, into an Arrow file on disk.

LLaVA's 665k records tokenised in Python on every rank at every start cost minutes and
held every token id as a Python int. Here the encoded columns go to an Arrow file keyed by
everything that determines them (the records, the tokenizer, the template, the length
limit and the image expansion): a rerun, and every other rank (they wait for rank 0 in
`TrainingArguments.main_process_first`), memory-maps that file instead, and `num_proc`
workers share the first encoding.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sbt_train.data.records import Conversation
from sbt_train.encode import ImageTokens, SampleError, encode
from sbt_train.templates import Template, Turn, render

# Part of the cache key: bump it when encoding changes, so older files are not reused.
ENCODING_VERSION = "1"
TEXT_ONLY_MODEL = "has an image but the model is text-only"


def conversation_rows(convs: Sequence[Conversation]) -> dict[str, list[Any]]:
    """Column-wise records for `datasets.Dataset.from_dict`."""
    return {
        "id": [c.id for c in convs],
        "roles": [[t.role for t in c.turns] for c in convs],
        "texts": [[t.text for t in c.turns] for c in convs],
        "image": [c.image for c in convs],
    }


def cache_key(
    rows: dict[str, list[Any]],
    tokenizer: Any,
    template: Template,
    max_length: int,
    image: ImageTokens | None,
) -> str:
    """A hash of everything the encoded columns depend on."""
    digest = hashlib.sha256(ENCODING_VERSION.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    vocabulary = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab())
    settings = [asdict(template), max_length, asdict(image) if image else None]
    settings += [tokenizer.bos_token, tokenizer.eos_token, type(tokenizer).__name__]
    for part in (vocabulary, json.dumps(settings, sort_keys=True, default=str)):
        digest.update(part.encode())
    # Row by row: one JSON string of 665k records would double the memory the records take.
    for row in zip(*rows.values(), strict=True):
        digest.update(json.dumps(row).encode())
    return digest.hexdigest()[:32]


def encode_rows(
    batch: dict[str, list[Any]],
    tokenizer: Any,
    template: Template,
    max_length: int,
    image: ImageTokens | None,
) -> dict[str, list[Any]]:
    """`datasets.map` body: input ids, labels, a truncation flag and a skip reason per row.

    A skipped row keeps empty ids and its reason ("" for rows that are trained on).
    """
    bos, eos = tokenizer.bos_token or "", tokenizer.eos_token or ""
    out: dict[str, list[Any]] = {"input_ids": [], "labels": [], "truncated": [], "skip": []}
    for roles, texts, image_name in zip(
        batch["roles"], batch["texts"], batch["image"], strict=True
    ):
        ids: tuple[int, ...] = ()
        labels: tuple[int, ...] = ()
        truncated, reason = False, ""
        if image_name and image is None:
            reason = TEXT_ONLY_MODEL
        else:
            turns = tuple(Turn(role, text) for role, text in zip(roles, texts, strict=True))
            try:
                segments = render(template, turns, bos=bos, eos=eos)
                enc = encode(segments, tokenizer, max_length=max_length, image=image)
                ids, labels, truncated = enc.input_ids, enc.labels, enc.truncated
            except (SampleError, ValueError) as err:
                reason = str(err)
        out["input_ids"].append(list(ids))
        out["labels"].append(list(labels))
        out["truncated"].append(truncated)
        out["skip"].append(reason)
    return out


def tokenise(
    convs: Sequence[Conversation],
    tokenizer: Any,
    template: Template,
    max_length: int,
    image: ImageTokens | None,
    *,
    cache_dir: Path,
    num_proc: int = 1,
) -> Any:
    """The encoded `datasets.Dataset` (id, image, input_ids, labels, truncated, skip).

    Read from `cache_dir` when an identical encoding was made before; else made with
    `num_proc` processes and written there.
    """
    import datasets  # noqa: PLC0415 - heavy

    rows = conversation_rows(convs)
    key = cache_key(rows, tokenizer, template, max_length, image)
    cache_dir.mkdir(parents=True, exist_ok=True)
    source = datasets.Dataset.from_dict(rows)
    return source.map(
        encode_rows,
        batched=True,
        batch_size=256,
        num_proc=num_proc if num_proc > 1 and len(convs) > 1 else None,
        fn_kwargs={
            "tokenizer": tokenizer,
            "template": template,
            "max_length": max_length,
            "image": image,
        },
        remove_columns=["roles", "texts"],
        cache_file_name=str(cache_dir / f"encoded-{key}.arrow"),
        new_fingerprint=key,
        load_from_cache_file=True,
        desc="tokenising",
    )
