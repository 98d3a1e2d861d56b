"""`sbt-bench convert-llava`: an original-LLaVA checkpoint as a llava-hf folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from sbt_bench.core.files import claim_output_folder


def convert_llava(args: argparse.Namespace) -> int:
    """Write the llava-hf version of an original-LLaVA checkpoint."""
    from sbt_train.model.convert import ConvertConfig, convert_original_llava  # noqa: PLC0415

    claim_output_folder(Path(args.output), "output", overwrite=args.overwrite)
    cfg = ConvertConfig(Path(args.source), Path(args.output), args.vision_tower, args.template)
    out = convert_original_llava(cfg)
    print(f"converted {args.source} -> {out}; evaluate it as llava:{out}")
    return 0
