"""`sbt-train`: one subcommand per stage; each maps straight onto a library function."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from sbt_bench.core.console import fit_streams_to_locale
from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import claim_output_folder
from sbt_train.config import STAGES, build_config, load_recipe, parse_override
from sbt_train.data.convert import add_data_arguments, run_data

# CLI flag -> TrainConfig field, for the settings common enough to deserve a flag.
_FLAGS: dict[str, dict[str, Any]] = {
    "--model": {"help": "model spec (smollm2, hf:<dir>) or, for image stages, a llava folder"},
    "--data": {"nargs": "+", "help": "data file(s)"},
    "--format": {"help": "llava, alpaca, orca or lrv"},
    "--image-dir": {"help": "folder holding the records' images"},
    "--output-dir": {"help": "where the trained model and train_summary.json go"},
    "--template": {"help": "plain, v0, vicuna_v1, llama_2, llava_llama_2"},
    "--max-length": {"type": int},
    "--max-steps": {"type": int},
    "--epochs": {"type": float},
    "--learning-rate": {"type": float, "dest": "learning_rate"},
    "--batch-size": {"type": int},
    "--grad-accum": {"type": int},
    "--sample": {"type": int, "help": "train on N records drawn with --seed"},
    "--seed": {"type": int},
    "--save-steps": {"type": int, "help": "write a resumable checkpoint every N steps"},
    "--lora-r": {"type": int},
    "--lora-alpha": {"type": int},
    "--deepspeed": {"help": "zero2, zero3 or a DeepSpeed JSON path"},
    "--attn-implementation": {"help": "sdpa, eager or flash_attention_2"},
    "--report-to": {"help": "none (default), wandb or tensorboard: transformers' logging"},
    "--dataloader-num-workers": {"type": int, "help": "batch-loading processes (default 0)"},
    "--preprocessing-num-workers": {"type": int, "help": "tokenising processes (default 1)"},
    "--projector-weights": {
        "help": "finetune: start from a stage-1 mm_projector.bin (or its folder), as LLaVA does"
    },
}
_SWITCHES = ("--lora", "--strict", "--resume", "--bf16", "--gradient-checkpointing", "--overwrite")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; user errors print one line and exit 2."""
    fit_streams_to_locale()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SbtError as err:
        print(f"sbt-train: error: {err}", file=sys.stderr)
        return 2


class _OneLineParser(argparse.ArgumentParser):
    """Argument errors in one line, as every other sbt-train error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"sbt-train: error: {message} (`{self.prog} -h` shows the usage)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="sbt-train", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for stage in STAGES:
        p = sub.add_parser(stage, help=f"train the {stage} stage")
        p.add_argument("--recipe", help="recipe name (sbt_train/recipes) or YAML path")
        for flag, kwargs in _FLAGS.items():
            p.add_argument(flag, default=None, **kwargs)
        for switch in _SWITCHES:
            p.add_argument(switch, action="store_true", default=None)
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override any TrainConfig field, e.g. --set warmup_ratio=0.1",
        )
        p.set_defaults(func=_run_stage, stage=stage)
    p = sub.add_parser("assemble", help="CLIP vision tower + causal LM -> llava-hf checkpoint")
    p.add_argument("--vision", required=True, type=Path, help="CLIP vision model folder")
    p.add_argument("--model", required=True, help="causal LM spec (smollm2, hf:<dir>)")
    p.add_argument("--projector", default="linear", choices=["linear", "mlp2x_gelu"])
    p.add_argument("--output-dir", required=True, type=Path)
    p.add_argument("--overwrite", action="store_true", help="replace a used --output-dir")
    p.add_argument(
        "--projector-weights", type=Path, help="a stage-1 mm_projector.bin (or its folder) to load"
    )
    p.set_defaults(func=_run_assemble)
    p = sub.add_parser("merge", help="merge a LoRA output folder into full weights")
    p.add_argument("adapter", type=Path)
    p.add_argument("--output-dir", required=True, type=Path)
    p.add_argument("--base", help="base model spec (default: the one used for training)")
    p.add_argument("--overwrite", action="store_true", help="replace a used --output-dir")
    p.set_defaults(func=_run_merge)
    add_data_arguments(sub.add_parser("data", help="convert/sample/split instruction data"))
    sub.choices["data"].set_defaults(func=run_data)
    return parser


def _run_stage(args: argparse.Namespace) -> int:
    from sbt_train.trainer import train  # noqa: PLC0415 - heavy

    values: dict[str, Any] = load_recipe(args.recipe) if args.recipe else {}
    if values.get("stage", args.stage) != args.stage:
        raise SbtError(f"recipe {args.recipe} is for stage {values['stage']!r}, not {args.stage!r}")
    values["stage"] = args.stage
    for flag in [*_FLAGS, *_SWITCHES]:
        key = flag.lstrip("-").replace("-", "_")
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    overrides = dict(parse_override(text) for text in args.set)
    values.update(overrides)

    def label(name: str) -> str:
        """A setting as the user gave it: `--set name`, or its flag."""
        return f"--set {name}" if name in overrides else _flag_label(name)

    result = train(build_config(values, label))
    print(
        f"{args.stage}: {result.steps} steps, {result.describe_losses()}; "
        f"saved to {result.output_dir}"
    )
    return 0


def _flag_label(name: str) -> str:
    """A setting's flag, or `--set name` where it has none."""
    flag = "--" + name.replace("_", "-")
    return flag if flag in _FLAGS or flag in _SWITCHES else f"--set {name}"


def _run_assemble(args: argparse.Namespace) -> int:
    from sbt_train.model.assemble import AssembleConfig, assemble  # noqa: PLC0415
    from sbt_train.model.llava_hf import ProjectorKind  # noqa: PLC0415

    claim_output_folder(args.output_dir, "--output-dir", overwrite=args.overwrite)
    cfg = AssembleConfig(
        args.vision,
        args.model,
        args.output_dir,
        ProjectorKind(args.projector),
        projector_weights=args.projector_weights,
    )
    print(f"assembled llava checkpoint: {assemble(cfg)}")
    return 0


def _run_merge(args: argparse.Namespace) -> int:
    from sbt_train.merge import merge  # noqa: PLC0415 - heavy

    claim_output_folder(args.output_dir, "--output-dir", overwrite=args.overwrite)
    print(f"merged: {merge(args.adapter, args.output_dir, args.base)}")
    return 0
