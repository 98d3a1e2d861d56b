"""The argument parser of every `sbt-bench` subcommand."""

from __future__ import annotations

import argparse
from typing import NoReturn

from sbt_bench._version import __version__


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, like every other sbt-bench error."""

    def error(self, message: str) -> NoReturn:
        """Print `sbt-bench: error: <message>` and where the usage is; exit 2."""
        self.exit(2, f"sbt-bench: error: {message} (`{self.prog} -h` shows the usage)\n")


def non_negative_int(text: str) -> int:
    """An argparse type: an integer >= 0 (a seed, a count)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative; give an integer >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = OneLineParser(
        prog="sbt-bench",
        description="Measure how truthful and ethical (multi-modal) LLMs are.",
    )
    parser.add_argument("--version", action="version", version=f"sbt-bench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    _add_list_command(sub)

    run = sub.add_parser("run", help="evaluate models on tasks")
    run.add_argument(
        "--tasks", help="comma-separated task or group names (default with --compare: its tasks)"
    )
    run.add_argument(
        "--compare-on",
        "--compare",  # the first spelling; kept for existing scripts
        dest="compare",
        metavar="LEADERBOARD",
        help="compare two models (e.g. text-only vs vision, leaderboard gpt4v_comparison): run "
        "its tasks on both and print each column's difference, the first model the baseline",
    )
    run.add_argument(
        "--models",
        help="comma-separated: alias (smollm2), hf:<dir|.gguf|hub id>[+<adapter>], "
        "llava:<dir|hub id>[+<adapter>], openai:<model>, sbt-paper:<name>, or a model YAML",
    )
    run.add_argument(
        "--limit",
        help="score only the first N items of each task, or a fraction (0.1: the first 10%%, "
        "rounded up, as lm-eval)",
    )
    run.add_argument(
        "--data-dir",
        help="local data folder laid out like ../shared/data "
        "(default: $SBT_DATA_DIR, else the Hugging Face hub)",
    )
    run.add_argument("--output-dir", default="results", help="where results go (default: results)")
    run.add_argument(
        "--no-wait",
        action="store_true",
        help="fail at once, naming the holder, when another process holds the model's "
        "response cache (default: say who holds it and wait)",
    )
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a model's results.json that holds another model identity under its name "
        "(otherwise such a run is refused, so finished results are never dropped)",
    )
    run.add_argument(
        "--batch-size",
        default="8",
        help="sequences per forward pass, or 'auto' (largest that fits on a GPU, found per run)",
    )
    run.add_argument(
        "--max-batch-tokens",
        type=int,
        help="tokens per packed forward pass in prefix-shared scoring "
        "(default 512 on CPU; probed on a GPU)",
    )
    run.add_argument(
        "--no-prefix-sharing",
        action="store_true",
        help="score each (context, choice) and generate from each prompt in full, like lm-eval",
    )
    _add_loading_flags(run)
    run.add_argument("--seed", type=non_negative_int, default=0)
    for add_flags in (
        _add_model_access_flags,
        _add_parser_flag,
        _add_prompt_flags,
        _add_image_flags,
        _add_push_flag,
    ):
        add_flags(run)
    run.add_argument(
        "--log",
        help="log each model's metrics, config and samples: wandb and/or tensorboard "
        "(comma-separated; needs the log extra)",
    )

    _add_score_parser(sub)

    convert = sub.add_parser(
        "convert-llava",
        help="convert an original-LLaVA checkpoint (LLaVA repo layout) to a llava-hf folder",
    )
    convert.add_argument("source", help="original checkpoint folder (config.json with mm_* keys)")
    convert.add_argument("output", help="where the llava-hf checkpoint is written")
    convert.add_argument("--overwrite", action="store_true", help="replace a used output folder")
    convert.add_argument(
        "--vision-tower", help="CLIP vision tower folder (default: the config's mm_vision_tower)"
    )
    convert.add_argument(
        "--template",
        default="v0",
        help="conversation template it was tuned with: v0, vicuna_v1, llama_2, llava_llama_2",
    )

    compare = sub.add_parser(
        "compare", help="paired statistics of OTHER runs against BASE on the same items"
    )
    compare.add_argument("base", help="the baseline's results folder (<output-dir>/<model>/)")
    compare.add_argument("others", nargs="+", metavar="other", help="results folders to compare")
    compare.add_argument("--tasks", help="comma-separated tasks (default: every task of BASE)")
    compare.add_argument("--format", choices=("md", "csv", "json"), default="md")
    compare.add_argument(
        "--seed", type=non_negative_int, default=0, help="bootstrap seed (default 0)"
    )
    compare.add_argument(
        "--resamples", type=int, default=10_000, help="bootstrap/randomisation draws"
    )
    compare.add_argument(
        "--flips-dir",
        default="flips",
        help="where flips_<task>.jsonl go, one subfolder per OTHER (default: ./flips)",
    )
    compare.add_argument("--output", help="write the table to this file instead of stdout")

    _add_table_commands(sub)
    _add_data_commands(sub)
    return parser


def _add_list_command(sub: argparse._SubParsersAction[OneLineParser]) -> None:
    """`list`: tasks and groups, 100 columns wide unless --verbose."""
    ls = sub.add_parser("list", help="list tasks and groups with their metrics and data source")
    ls.add_argument("--data-dir", help="show where each task would read its data from")
    ls.add_argument(
        "-v",
        "--verbose",
        dest="details",
        action="store_true",
        help="every metric and the full data source (default: fits 100 columns)",
    )
    ls.add_argument(
        "--models",
        action="store_true",
        help="list the model aliases and the paper's checkpoints (sbt-paper:<name>) instead",
    )
    _add_include_flag(ls)


def _add_data_commands(sub: argparse._SubParsersAction[OneLineParser]) -> None:
    """`data fetch` and `data check`: the files tasks read, fetched and checked."""
    data = sub.add_parser("data", help="fetch task data, or check which files are there")
    steps = data.add_subparsers(dest="data_command", required=True)
    fetch = steps.add_parser(
        "fetch",
        help="download hub datasets (pinned commits); say where to get the rest",
    )
    fetch.add_argument("benchmarks", nargs="*", help="task or group names (default: every task)")
    fetch.add_argument("--data-dir", help="the folder for files the hub does not hold")
    check = steps.add_parser(
        "check", help="every file the tasks need under the data folder, present or missing"
    )
    check.add_argument("--data-dir", help="the data folder (default: $SBT_DATA_DIR)")
    check.add_argument("--tasks", help="comma-separated task or group names (default: all)")


def _add_table_commands(sub: argparse._SubParsersAction[OneLineParser]) -> None:
    """`leaderboard` and `report`: tables and pages built from results folders."""
    board = sub.add_parser("leaderboard", help="tabulate results folders as models x tasks")
    board.add_argument(
        "results", nargs="+", help="results.json files, model folders or output dirs"
    )
    board.add_argument(
        "--leaderboard",
        "--spec",  # the first spelling; kept for existing scripts
        dest="spec",
        metavar="NAME|YAML",
        default="sbt_text",
        help="the leaderboard's layout: a name in leaderboards/ or a YAML path",
    )
    board.add_argument("--format", choices=("md", "csv"), default="md")
    board.add_argument("--output", help="write the table to this file instead of stdout")
    board.add_argument(
        "--ci", action="store_true", help="show each value's 95%% CI as [lo, hi] after it"
    )
    board.add_argument(
        "--breakdown",
        action="store_true",
        help="also tabulate each column's parts (MME subtasks, group members, ...)",
    )
    _add_base_flag(board)

    report = sub.add_parser(
        "report",
        help="write one self-contained HTML page: leaderboard with CIs, charts, flipped items",
    )
    report.add_argument(
        "results", nargs="+", help="results.json files, model folders or output dirs"
    )
    report.add_argument(
        "--spec", default="sbt_text", help="leaderboard spec: a name in leaderboards/ or a YAML"
    )
    _add_base_flag(report)
    report.add_argument("--output", default="report.html", help="the HTML file to write")
    report.add_argument("--plots", metavar="DIR", help="also write the charts as PNG and SVG")
    report.add_argument(
        "--overwrite", action="store_true", help="replace an --output that is not a report"
    )
    _add_push_flag(report)
    _add_export_command(sub)


def _add_export_command(sub: argparse._SubParsersAction[OneLineParser]) -> None:
    """`export`: results in another tool's format (Every Eval Ever)."""
    export = sub.add_parser(
        "export", help="write results as Every Eval Ever (schema 0.3.0) records, validated"
    )
    export.add_argument(
        "results", nargs="+", help="results.json files, model folders or output dirs"
    )
    export.add_argument("--format", choices=("eee",), default="eee", help="the record format")
    export.add_argument("--output", required=True, help="the folder the data/ tree goes in")
    export.add_argument(
        "--overwrite", action="store_true", help="replace records that hold another export"
    )
    _add_base_flag(export)
    _add_push_flag(export)


def _add_push_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--push-to-hub",
        metavar="REPO_ID",
        help="also upload what this writes to a private hub dataset repository (token: "
        "$HF_TOKEN, never written); a rerun sends only what changed",
    )


def _add_model_access_flags(run: argparse.ArgumentParser) -> None:
    """Where the judge and the hub files come from."""
    run.add_argument(
        "--judge",
        help="model spec of the LLM judge of judged tasks (gavie), e.g. openai:gpt-4-turbo "
        "or a model YAML (default: openai:gpt-4o-2024-08-06)",
    )
    run.add_argument(
        "--offline",
        action="store_true",
        default=None,
        help="read hub models and datasets from the local cache only (default: only when the "
        "hub is unreachable, or with $HF_HUB_OFFLINE)",
    )


def _add_base_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--base",
        metavar="MODEL",
        help="show differences against this model (paired on items, Holm-corrected)",
    )


def _add_parser_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--parser",
        choices=("default", "official"),
        default="default",
        help="answer parsing: 'official' reproduces each benchmark's own script, quirks included",
    )


def _add_include_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--include-path",
        action="append",
        metavar="DIR",
        help="a folder of your own task YAMLs (repeatable; also $SBT_TASKS_PATH)",
    )


def _add_loading_flags(run: argparse.ArgumentParser) -> None:
    """Which models (a leaderboard's list), where and how they are loaded; LoRA procedure."""
    run.add_argument(
        "--leaderboard",
        metavar="SPEC",
        help="run a leaderboard spec's tasks (and, without --models, its models: list, e.g. "
        "sbt_paper_models); then `sbt-bench leaderboard <output-dir> --spec SPEC`",
    )
    run.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    run.add_argument(
        "--dtype",
        default="auto",
        help="auto (bf16 on GPU, fp32 on CPU), float32, bfloat16 or float16",
    )
    run.add_argument(
        "--lora-procedure",
        choices=("as-trained", "paper-harness"),
        help="how a LLaVA-layout LoRA (+<adapter>) is applied: as-trained (LLaVA's loader, the "
        "default) or paper-harness (the 2023 harness: unresized base, non-LoRA weights ignored); "
        "wins over the model YAML's lora_procedure",
    )


def _add_image_flags(run: argparse.ArgumentParser) -> None:
    """What an image task does with missing and corrupted images."""
    run.add_argument(
        "--skip-missing-images",
        action="store_true",
        help="leave out items whose image file is missing (counted in results) instead of stopping",
    )
    run.add_argument(
        "--corruptions",
        help="corrupted-image tasks (coco_c): comma-separated corruption names or 'all', "
        "optionally ':' and severities, e.g. 'fog,snow:1,3,5' (default all:1,3,5)",
    )


def _add_prompt_flags(command: argparse.ArgumentParser) -> None:
    """lm-eval's habits on `run`: user task folders, prompt settings, `--predict-only`."""
    _add_include_flag(command)
    command.add_argument(
        "--predict-only",
        action="store_true",
        help="write answers and samples files without scoring; `sbt-bench score` scores them",
    )
    command.add_argument(
        "--apply-chat-template",
        action=argparse.BooleanOptionalAction,
        help="render text prompts with the model's chat template (default: off, as lm-eval)",
    )
    command.add_argument("--system-instruction", metavar="TEXT", help="a system message")
    command.add_argument(
        "--think",
        choices=("on", "off"),
        type=str.lower,
        help="the chat template's thinking switch (enable_thinking), where it has one; "
        "thinking blocks are cut from answers before scoring and kept in the samples",
    )
    command.add_argument(
        "--fewshot-as-multiturn",
        action=argparse.BooleanOptionalAction,
        help="few-shot examples as chat turns (default: on with --apply-chat-template)",
    )
    command.add_argument(
        "--num-fewshot",
        type=int,
        metavar="N",
        help="examples drawn from tasks' few-shot pools (seeded; default 0)",
    )
    command.add_argument(
        "--gen-kwargs",
        metavar="K=V,...",
        help="generation settings: temperature, top_p, max_new_tokens, do_sample",
    )


def _add_score_parser(sub: argparse._SubParsersAction[OneLineParser]) -> None:
    """`sbt-bench score`: recorded answers in, a results folder out."""
    score = sub.add_parser(
        "score", help="score answers produced elsewhere (no model), in the benchmark's format"
    )
    score.add_argument("task", help="the task the answers are for")
    score.add_argument(
        "--predictions",
        required=True,
        help="answers: MME eval-tool folder, POPE/LLaVA JSON lines, Unicorn JSON, COCO results "
        "JSON, or an sbt-bench samples_<task>.jsonl",
    )
    score.add_argument("--output-dir", default="results", help="where results go")
    score.add_argument("--data-dir", help="local data folder (default: $SBT_DATA_DIR, else hub)")
    score.add_argument("--limit", help="score only the first N items (or a fraction)")
    score.add_argument(
        "--name",
        help="the results folder's (and model's) name (default: the model that predicted, "
        "or the answer file's folder and name)",
    )
    score.add_argument(
        "--overwrite",
        action="store_true",
        help="replace results of other predictions under the same name",
    )
    _add_parser_flag(score)
    _add_include_flag(score)
