"""`sbt-train data`: convert any supported format to LLaVA JSON, text-only, sampled or split."""

from __future__ import annotations

import argparse
from pathlib import Path

from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import claim_output_file, claim_output_folder
from sbt_train.data.records import FORMATS, Conversation, load_records, write_conversations
from sbt_train.data.transforms import (
    DATA_TYPES,
    sample,
    split_by_source,
    split_by_type,
    strip_images,
)


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of the `data` subcommand."""
    p.add_argument(
        "input",
        type=Path,
        nargs="+",
        help="input file(s) (JSON list, JSONL or LRV annotations); with --split, LLaVA's "
        "conversation_58k / detail_23k / complex_reasoning_77k files are grouped by file",
    )
    p.add_argument("--format", default="llava", choices=FORMATS)
    p.add_argument(
        "--output",
        required=True,
        type=Path,
        help="output JSON; with --split, a folder for <type>.json files",
    )
    p.add_argument("--text-only", action="store_true", help="drop images and <image> placeholders")
    p.add_argument("--sample", type=int, help="keep N records (seeded)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--split",
        action="store_true",
        help="write conversation/detail/reasoning groups (each sampled to --sample)",
    )
    p.add_argument("--image-dir", type=Path, help="reject records whose image is missing here")
    p.add_argument("--strict", action="store_true", help="a bad record is an error")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output")


def run_data(args: argparse.Namespace) -> int:
    """Run the conversion; prints the bad-record report and what was written."""
    if args.split:
        claim_output_folder(args.output, "--output", overwrite=args.overwrite)
    else:
        claim_output_file(args.output, "--output", overwrite=args.overwrite)
    by_file: dict[Path, list[Conversation]] = {}
    for path in args.input:
        convs, report = load_records(
            path, args.format, image_dir=args.image_dir, strict=args.strict
        )
        print(f"{path}: {report.summary()}")
        by_file[path] = [strip_images(c) for c in convs] if args.text_only else convs
    everything = [c for convs in by_file.values() for c in convs]
    if not args.split:
        n = write_conversations(sample(everything, args.sample, args.seed), args.output)
        print(f"wrote {n} records to {args.output}")
        return 0
    groups = split_by_source(by_file)
    if groups is None:
        # A merged file (llava_instruct_150k) records no source: the prompt heuristic decides.
        print("no per-type source files given: grouping by turns and detail prompts (heuristic)")
        groups = split_by_type(everything)
    for kind in DATA_TYPES:
        chosen = sample(groups[kind], args.sample, args.seed)
        if args.sample and len(chosen) < args.sample:
            raise SbtError(f"only {len(chosen)} {kind} records, fewer than --sample {args.sample}")
        n = write_conversations(chosen, args.output / f"{kind}.json")
        print(f"wrote {n} {kind} records to {args.output / f'{kind}.json'}")
    return 0
