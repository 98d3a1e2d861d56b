"""`sbt-paper:<name>`: the Sight-Beyond-Text paper's released checkpoints and their bases.

Facts come from the SBT README's model table (UCSC-VLAA/Sight-Beyond-Text: hub ids
`PahaII/MM-*-{projector,ft,lora}`), its training commands and the hub's adapter configs
(see ../shared/reference/paper-and-seed-repos.md sections 3.2-3.5 and
released-checkpoints.md). A fact that no file states is listed in the entry's `unverified`
and never used to load anything silently: the README names bases only as "LLaMA-7B",
"Vicuna-7B", "Alpaca-3B", so those hub ids are not given (pass a local folder instead).

Resolution: a local copy under `$SBT_PAPER_MODELS/<hub id>` (or `.../<repo name>`) wins.
Otherwise a base LLM is read by its hub id, while the paper's own folders (full and LoRA)
must be local (they are converted or read file by file); where the hub is unreachable, or
a folder must be local, the spec stops with one line naming the hub id and the override.
No hub revision is recorded in any source, so every entry is unpinned (`revision` None).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from sbt_bench.core.errors import SbtError, suggest
from sbt_bench.core.hub import check_hub
from sbt_bench.core.types import ModelSpec

PREFIX = "sbt-paper"
LOCAL_ENV = "SBT_PAPER_MODELS"
Layout = Literal["base", "projector", "full", "lora"]
CLIP = "openai/clip-vit-large-patch14"


@dataclass(frozen=True)
class PaperModel:
    """One catalogue entry.

    Attributes:
        name: the catalogue name (`sbt-paper:<name>`).
        hub_id: where the weights are on the hub; None where no source states it.
        layout: `base` (an HF causal LM), `projector` (stage-1 `mm_projector.bin`),
            `full` (original-LLaVA full fine-tune) or `lora` (LLaVA-layout LoRA folder).
        base: the catalogue name of the base LLM (None for a base itself).
        template: the conversation template the checkpoint was trained with, if known.
        revision: the hub commit to pin; None: unpinned (no commit is recorded anywhere).
        unverified: which of the facts above no source states (each explained in `note`).
        note: where the facts come from.
    """

    name: str
    hub_id: str | None
    layout: Layout
    base: str | None = None
    template: str | None = None
    revision: str | None = None
    unverified: tuple[str, ...] = ()
    note: str = ""


_README = "SBT README model table"
_BASES = (
    PaperModel("llama2-7b", "meta-llama/Llama-2-7b-hf", "base",
               note="the README's pretrain command (--model_name_or_path)"),
    PaperModel("llama2-chat-7b", "meta-llama/Llama-2-7b-chat-hf", "base",
               unverified=("hub_id",),
               note="README says LLaMA2-chat-7B; the -hf chat repo is inferred, not stated"),
    PaperModel("open-llama-3b", "openlm-research/open_llama_3b_v2", "base",
               note="base_model_name_or_path of PahaII/MM-LLaMA-3B-lora's adapter_config"),
    PaperModel("llama-7b", None, "base", unverified=("hub_id",),
               note="README says LLaMA-7B; no file names the checkpoint used"),
    PaperModel("vicuna-7b", None, "base", unverified=("hub_id",),
               note="README says Vicuna-7B; its version (v0, v1.1, v1.3, v1.5) is not stated"),
    PaperModel("alpaca-3b", None, "base", unverified=("hub_id",),
               note="README says Alpaca-3B; no file names the checkpoint used"),
)  # fmt: skip
# (catalogue stem, hub stem, base, stage-2 template or None where unverified, has LoRA)
_RELEASED = (
    ("llama-7b", "LLaMA-7B", "llama-7b", None, False),
    ("vicuna-7b", "Vicuna-7B", "vicuna-7b", "vicuna_v1", False),
    ("llama-3b", "LLaMA-3B", "open-llama-3b", None, True),
    ("alpaca-3b", "Alpaca-3B", "alpaca-3b", None, True),
    ("llama2-7b", "LLaMA-2-7B", "llama2-7b", "llava_llama_2", True),
    ("llama2-chat-7b", "LLaMA-2-7B-chat", "llama2-chat-7b", "llava_llama_2", True),
)


def _released() -> tuple[PaperModel, ...]:
    entries = []
    for stem, hub, base, template, has_lora in _RELEASED:
        kinds: tuple[Layout, ...] = (
            ("projector", "full", "lora") if has_lora else ("projector", "full")
        )
        for kind in kinds:
            used: str | None
            suffix = {"projector": "projector", "full": "ft", "lora": "lora"}[kind]
            if kind == "projector":
                # Only LLaMA2-7B's stage-1 command is shown (README: `--version v0`).
                used, note = "v0", "README pretrain command" if stem == "llama2-7b" else "inferred"
            else:
                used, note = template, "train_scripts" if template else "not stated"
            entries.append(
                PaperModel(
                    f"mm-{stem}-{suffix}",
                    f"PahaII/MM-{hub}-{suffix}",
                    kind,
                    base=base,
                    template=used,
                    unverified=()
                    if note in ("train_scripts", "README pretrain command")
                    else ("template",),
                    note=f"{_README}; template: {note}",
                )
            )
    return tuple(entries)


CATALOGUE: dict[str, PaperModel] = {m.name: m for m in (*_BASES, *_released())}


def paper_spec(name: str, text: str) -> ModelSpec:
    """The ModelSpec of `sbt-paper:<name>` (`text` is the whole spec, its display name)."""
    entry = CATALOGUE.get(name)
    if entry is None:
        hint = suggest(name, list(CATALOGUE))
        raise SbtError(
            f"unknown model {text!r}.{hint} `sbt-bench list --models` shows the catalogue"
        )
    if entry.layout == "projector":
        raise SbtError(
            f"model {text!r} is a stage-1 projector ({entry.hub_id}), not a model to score; "
            "start stage 2 from it: sbt-train finetune --projector-weights <its folder>"
        )
    path = locate(entry, text)
    if entry.layout == "base":
        return ModelSpec(name=text, backend="hf", path=path, revision=entry.revision)
    if entry.layout == "full":  # llava: converts it once; text tasks read its language model
        tower = _local_copy(PaperModel("clip", CLIP, "base"))  # else mm_vision_tower's hub id
        return ModelSpec(
            name=text, backend="llava", path=path, revision=entry.revision, vision_tower=tower
        )
    base = CATALOGUE[entry.base or ""]
    spec = ModelSpec(
        name=text, backend="hf", path=locate(base, text), adapter=path, lora_procedure="as-trained"
    )
    return replace(spec, revision=base.revision)


def locate(entry: PaperModel, text: str) -> str:
    """A local copy of the entry (under $SBT_PAPER_MODELS), else its hub id where usable."""
    local = _local_copy(entry)
    if local is not None:
        return local
    override = f"put a copy at ${LOCAL_ENV}/<hub id> or give a local folder (hf:/llava:<dir>)"
    if entry.hub_id is None:
        raise SbtError(
            f"model {text!r}: the paper does not say which {entry.name} checkpoint it used "
            f"({entry.note}); put yours at ${LOCAL_ENV}/{entry.name} or give hf:<dir>"
        )
    needs_local = entry.layout in ("full", "lora")  # converted or read as local files
    reason = _unreachable()
    if reason is not None or needs_local:
        why = f"the hub is unreachable ({reason})" if reason else "it must be a local folder"
        raise SbtError(
            f"model {text!r} needs {entry.hub_id} and {why}: download it "
            f"(huggingface-cli download {entry.hub_id} --local-dir ${LOCAL_ENV}/{entry.hub_id}) "
            f"or {override}"
        )
    return entry.hub_id


def _local_copy(entry: PaperModel) -> str | None:
    """`$SBT_PAPER_MODELS/<hub id>`, `.../<repo name>` or `.../<catalogue name>`, if a folder."""
    root = os.environ.get(LOCAL_ENV)
    if not root:
        return None
    names = [entry.name]
    if entry.hub_id is not None:
        names = [entry.hub_id, entry.hub_id.split("/")[-1], *names]
    found = next((Path(root) / n for n in names if (Path(root) / n).is_dir()), None)
    return str(found.resolve()) if found is not None else None


def _unreachable() -> str | None:
    """Why the hub cannot be used now (offline mode or a failed probe), else None."""
    access = check_hub()
    if not access.offline:
        return None
    return access.reason or "offline mode"


def catalogue_rows() -> list[tuple[str, str, str, str, str, str]]:
    """(name, hub id, layout, base, template, unverified) per entry, for `list --models`."""
    return [
        (
            f"{PREFIX}:{m.name}",
            m.hub_id or "-",
            m.layout,
            m.base or "-",
            m.template or "-",
            ",".join(m.unverified) or "-",
        )
        for m in CATALOGUE.values()
    ]
