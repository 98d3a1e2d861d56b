"""Run one stage on transformers' `Trainer` and write a folder sbt-bench loads.

`Trainer` rather than a hand loop: it already gives exact resume (optimizer, scheduler, RNG
and data position), DeepSpeed ZeRO-2/3 with weight gathering on save, bf16, gradient
checkpointing and `accelerate launch`/`torchrun` multi-GPU, all of which a thin loop would
re-implement. What is ours is the data, the labels and which parameters train.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import claim_output_folder
from sbt_train.config import TrainConfig
from sbt_train.data.dataset import ImageInputs, SupervisedDataset, build_collator
from sbt_train.data.records import Conversation, LoadReport, load_records
from sbt_train.data.transforms import sample, strip_images
from sbt_train.encode import ImageTokens
from sbt_train.model.loading import load_causal_lm, load_llava, text_model_spec
from sbt_train.model.projector_weights import apply_projector_weights, save_non_lora_trainables
from sbt_train.stages import prepare_model, trainable_names
from sbt_train.templates import IMAGE_PLACEHOLDER, chat_template_for, get_template

log = logging.getLogger(__name__)
SUMMARY_FILE = "train_summary.json"
# Logged losses averaged at each end of a run: one batch's loss swings by more than a short
# run moves it, so "first -> last" of single steps says little (up to 10 at each end).
LOSS_WINDOW = 10


@dataclass(frozen=True, slots=True)
class TrainResult:
    """Where the model went and how training went."""

    output_dir: Path
    steps: int
    losses: tuple[float, ...]

    @property
    def first_loss(self) -> float:
        """The first logged loss (NaN when none was logged)."""
        return self.losses[0] if self.losses else float("nan")

    @property
    def final_loss(self) -> float:
        """The last logged loss (NaN when none was logged)."""
        return self.losses[-1] if self.losses else float("nan")

    @property
    def loss_window(self) -> int:
        """How many logged losses each end's mean covers: LOSS_WINDOW, at most half the log."""
        return max(1, min(LOSS_WINDOW, len(self.losses) // 2))

    @property
    def first_mean_loss(self) -> float:
        """The mean of the first `loss_window` logged losses (NaN when none was logged)."""
        return _mean(self.losses[: self.loss_window])

    @property
    def final_mean_loss(self) -> float:
        """The mean of the last `loss_window` logged losses (NaN when none was logged)."""
        return _mean(self.losses[-self.loss_window :])

    def describe_losses(self) -> str:
        """`mean loss A (first N logged steps) -> B (last N)`, the trainer's last line."""
        n = self.loss_window
        return (
            f"mean loss {self.first_mean_loss:.4f} (first {n} logged steps) -> "
            f"{self.final_mean_loss:.4f} (last {n})"
        )


def _mean(values: tuple[float, ...]) -> float:
    return sum(values) / len(values) if values else float("nan")


def train(cfg: TrainConfig, callbacks: list[Any] | None = None) -> TrainResult:
    """Train `cfg.stage` and save model + tokenizer/processor + train_summary.json."""
    from transformers import Trainer  # noqa: PLC0415 - heavy

    started = time.perf_counter()
    # Before any model loads: a used folder is another run's model (or a file is in the way).
    out = claim_output_folder(
        Path(cfg.output_dir), "--output-dir", overwrite=cfg.overwrite, keep=cfg.resume
    )
    # TrainingArguments first: with a ZeRO-3 config it switches transformers to sharded
    # loading, so no rank ever holds the whole model in memory.
    args = _training_args(cfg, out / "checkpoints")
    data_started = time.perf_counter()
    # The records are read (and refused if none is usable) before any model loads.
    convs, reports = _load_data(cfg)
    _refuse_unusable(cfg, convs, reports)
    read_seconds = time.perf_counter() - data_started
    processor, tokenizer, model, added_tokens = _load_model(cfg)
    data_started = time.perf_counter() - read_seconds
    # Rank 0 (of each node) tokenises first and caches the result; the other ranks then
    # read that cache instead of tokenising the whole set themselves.
    with args.main_process_first(desc="tokenising the training data"):
        images = _image_inputs(cfg, processor, model) if cfg.stage != "text" else None
        dataset = SupervisedDataset(
            convs,
            tokenizer,
            get_template(cfg.template),
            cfg.max_length,
            images,
            num_proc=cfg.preprocessing_num_workers,
        )
    data_seconds = time.perf_counter() - data_started
    if not len(dataset):
        raise SbtError(
            f"no trainable samples: {len(dataset.skipped)} skipped, e.g. "
            f"{next(iter(dataset.skipped.items()), ('-', 'no records'))}"
        )
    embeddings = bool(cfg.lora) and (
        cfg.train_embeddings if cfg.train_embeddings is not None else added_tokens > 0
    )
    model = prepare_model(model, cfg, train_embeddings=embeddings)
    trainer = Trainer(
        model=model,
        args=args,
        data_collator=build_collator(tokenizer),
        train_dataset=dataset,
        callbacks=callbacks,
    )
    checkpoint = _resume_point(out / "checkpoints") if cfg.resume else None
    output = trainer.train(resume_from_checkpoint=checkpoint)
    _save(trainer, processor or tokenizer, out, cfg)
    if embeddings and trainer.is_world_process_zero():
        save_non_lora_trainables(trainer.model, out)
    losses = tuple(e["loss"] for e in trainer.state.log_history if "loss" in e)
    result = TrainResult(out, trainer.state.global_step, losses)
    if trainer.is_world_process_zero():
        elapsed = time.perf_counter() - started
        timing = {"wall_time_s": elapsed, "data_preparation_s": data_seconds}
        _write_summary(cfg, result, reports, dataset, trainer, output, timing)
    return result


def _load_model(cfg: TrainConfig) -> tuple[Any, Any, Any, int]:
    """(processor or None, tokenizer, model, tokens this stage added to the vocabulary)."""
    if cfg.stage == "text":
        tokenizer, model = load_causal_lm(cfg.model)
        if cfg.attn_implementation:
            model.set_attn_implementation(cfg.attn_implementation)
        return None, tokenizer, model, 0
    folder = Path(cfg.model.removeprefix("llava:"))
    processor, model = load_llava(folder, cfg.attn_implementation)
    added = 0
    if cfg.projector_weights:
        added = apply_projector_weights(model, processor.tokenizer, Path(cfg.projector_weights))
    return processor, processor.tokenizer, model, added


def _refuse_unusable(
    cfg: TrainConfig, convs: Sequence[Conversation], reports: Mapping[str, LoadReport]
) -> None:
    """No usable record at all (none with an answer turn, all empty): one line, no traceback."""
    if convs:
        return
    why = "; ".join(" ".join(report.summary().split()) for report in reports.values())
    raise SbtError(
        f"no usable training record in {', '.join(cfg.data)} ({why}); each record needs a "
        f"non-empty prompt and answer turn in the --format {cfg.format} layout"
    )


def _load_data(cfg: TrainConfig) -> tuple[list[Conversation], dict[str, LoadReport]]:
    image_dir = Path(cfg.image_dir) if cfg.image_dir and cfg.stage != "text" else None
    convs: list[Conversation] = []
    reports: dict[str, LoadReport] = {}
    for name in cfg.data:
        found, report = load_records(
            Path(name),
            cfg.format,
            image_dir=image_dir,
            strict=cfg.strict,
        )
        if report.n_bad and found:  # with none usable, the refusal says it in one line
            log.warning("%s: %s", name, report.summary())
        reports[name] = report
        convs.extend(found)
    if cfg.stage == "text":
        # The text-only baseline: same instructions with the `<image>` placeholders removed.
        convs = [strip_images(c) for c in convs]
    return sample(convs, cfg.sample, cfg.seed), reports


def _image_inputs(cfg: TrainConfig, processor: Any, model: Any) -> ImageInputs:
    if not cfg.image_dir:
        raise SbtError(f"{cfg.stage} needs --image-dir (the folder the records' images are in)")
    token_id = model.config.image_token_id
    tokens = ImageTokens(processor.image_token, token_id, model.config.image_seq_length)
    return ImageInputs(Path(cfg.image_dir), processor.image_processor, tokens)


def _training_args(cfg: TrainConfig, folder: Path) -> Any:
    from transformers import TrainingArguments  # noqa: PLC0415 - heavy

    return TrainingArguments(
        output_dir=str(folder),
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        lr_scheduler_type=cfg.scheduler,
        warmup_steps=cfg.warmup_ratio,  # a float < 1 is a ratio of the total steps
        weight_decay=cfg.weight_decay,
        logging_steps=cfg.logging_steps,
        save_strategy="steps" if cfg.save_steps else "no",
        save_steps=cfg.save_steps or 500,
        bf16=cfg.bf16,
        activation_checkpointing=cfg.gradient_checkpointing,
        # Non-reentrant checkpointing works with frozen inputs (stage 1) without hooks.
        activation_checkpointing_kwargs={"use_reentrant": False},
        deepspeed=cfg.deepspeed_config(),
        seed=cfg.seed,
        # transformers' own integrations (W&B, TensorBoard under <output-dir>/checkpoints/runs).
        report_to=cfg.report_to,
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=True,
        dataloader_num_workers=cfg.dataloader_num_workers,
    )


def _resume_point(folder: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint  # noqa: PLC0415 - heavy

    if not folder.is_dir():
        return None
    last: str | None = get_last_checkpoint(str(folder))  # type: ignore[no-untyped-call]
    if last is None:
        log.warning("--resume: no checkpoint under %s, starting from scratch", folder)
    return last


def _save(trainer: Any, processing: Any, out: Path, cfg: TrainConfig) -> None:
    # `Trainer.save_model` gathers ZeRO-3 shards and writes once (the adapter, with the whole
    # projector via modules_to_save, for LoRA runs; `merge` turns it into full weights).
    trainer.save_model(str(out))
    if not trainer.is_world_process_zero():
        return
    # The checkpoint is asked the way it was trained: sbt-bench's default prompt format and
    # chat-template-aware servers read this.
    processing.chat_template = chat_template_for(get_template(cfg.template))
    processing.save_pretrained(str(out))
    if cfg.lora:
        (out / "sbt_base_model.txt").write_text(cfg.model + "\n", encoding="utf-8")


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_summary(  # noqa: PLR0917 - one private call site, all inputs of the summary
    cfg: TrainConfig,
    result: TrainResult,
    reports: dict[str, LoadReport],
    dataset: SupervisedDataset,
    trainer: Any,
    output: Any,
    timing: dict[str, float],
) -> None:
    wall = timing["wall_time_s"]
    runtime = float(output.metrics.get("train_runtime", wall))
    tokens = int(trainer.state.num_input_tokens_seen or 0)
    summary = {
        "stage": cfg.stage,
        "recipe": cfg.to_dict(),
        "data": {
            name: {
                "sha256": file_sha256(Path(name)),
                "records": r.n_read,
                "rejected": {k: list(v) for k, v in r.bad.items()},
            }
            for name, r in reports.items()
        },
        "samples": len(dataset),
        "skipped_samples": dataset.skipped,
        "truncated_samples": {"count": len(dataset.truncated), "ids": dataset.truncated[:100]},
        "steps": result.steps,
        # Means over `loss_window` logged steps at each end: what to compare (single steps
        # are noisy); the single first and last losses stay for older readers.
        "loss_window": result.loss_window,
        "first_mean_loss": result.first_mean_loss,
        "final_mean_loss": result.final_mean_loss,
        "first_loss": result.first_loss,
        "final_loss": result.final_loss,
        "losses": list(result.losses),
        "wall_time_s": round(wall, 2),
        # Reading and tokenising the records (a cache hit makes this small).
        "data_preparation_s": round(timing["data_preparation_s"], 2),
        "train_runtime_s": round(runtime, 2),
        "tokens_seen": tokens,
        "tokens_per_s": round(tokens / runtime, 1) if runtime > 0 else None,
        # Under ZeRO-3 a parameter's local tensor is empty; `ds_numel` is its real size.
        "trainable_parameters": sum(
            getattr(p, "ds_numel", p.numel()) for p in trainer.model.parameters() if p.requires_grad
        ),
        "trainable_tensors": len(trainable_names(trainer.model)),
        "image_placeholder": IMAGE_PLACEHOLDER if cfg.stage != "text" else None,
        "load_with": load_spec(cfg, result.output_dir),
    }
    path = result.output_dir / SUMMARY_FILE
    path.write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")


def load_spec(cfg: TrainConfig, out: Path) -> str:
    """The `--models` entry sbt-bench takes for this output folder."""
    if cfg.stage != "text":
        base = cfg.model.removeprefix("llava:")
        return f"llava:{base}+{out}" if cfg.lora else f"llava:{out}"
    if not cfg.lora:
        return f"hf:{out}"
    spec = text_model_spec(cfg.model)
    base = str(Path(spec.path) / spec.gguf_file) if spec.gguf_file else spec.path
    return f"hf:{base}+{out}"
