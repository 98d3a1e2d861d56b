"""The subcommands' bodies: each takes parsed arguments and returns an exit status."""

from __future__ import annotations

import argparse
import logging
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sbt_bench.backends import BackendOptions, ModelSpec, parse_model_spec
from sbt_bench.backends.models import MODEL_ALIASES, with_lora_procedure
from sbt_bench.backends.paper_models import LOCAL_ENV, catalogue_rows
from sbt_bench.baseline import (
    compare_to_base,
    load_entries,
    render_base_csv,
    render_base_markdown,
)
from sbt_bench.compare import differences, render_differences, spec_tasks
from sbt_bench.distributed import device_for, init_process_group
from sbt_bench.errors import SbtError
from sbt_bench.files import write_atomic
from sbt_bench.guards import check_image_input
from sbt_bench.leaderboard import (
    LeaderboardSpec,
    build_table,
    format_value,
    load_leaderboard_spec,
    render_csv,
    render_markdown,
)
from sbt_bench.logging_sinks import check_sinks, log_results
from sbt_bench.prompt_settings import PromptSettings, parse_gen_kwargs
from sbt_bench.runner import RunConfig, evaluate_model, task_spec
from sbt_bench.tasks import GROUPS, TASKS, build_task, expand_task_names
from sbt_bench.tasks.source import describe_source, resolve_data_dir
from sbt_bench.tasks.spec import CorruptionSpec
from sbt_bench.tasks.user_tasks import include_dirs, register_user_tasks

log = logging.getLogger(__name__)


def list_tasks(args: argparse.Namespace) -> int:
    """Print every task (metrics, data source) and group (members); or, `--models`, models."""
    if args.models:
        return list_models()
    register_user_tasks(include_dirs(args.include_path), TASKS, GROUPS)
    data_dir = resolve_data_dir(args.data_dir)
    rows = []
    for name in TASKS.names():
        spec = TASKS.get(name)
        metrics = ",".join(build_task(spec).metric_names())
        rows.append((name, spec.kind, metrics, describe_source(spec.dataset, data_dir)))
    print(_format_rows(("task", "kind", "metrics", "data"), rows))
    print()
    group_rows = [
        (g, ",".join(GROUPS.get(g).tasks), GROUPS.get(g).mean_of or "-") for g in GROUPS.names()
    ]
    print(_format_rows(("group", "tasks", "mean of"), group_rows))
    return 0


def list_models() -> int:
    """Print the model aliases and the paper's checkpoint catalogue (hub id, layout, base)."""
    print(_format_rows(("alias", "model"), [(name, "alias") for name in MODEL_ALIASES.names()]))
    print()
    header = ("model", "hub id", "layout", "base", "template", "unverified")
    print(_format_rows(header, catalogue_rows()))
    print(
        "\nrevision: unpinned for every entry (no source records one); local copies: "
        f"${LOCAL_ENV}/<hub id>; facts marked unverified are not stated by any source"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    """Evaluate each model on each task; print a summary table per model (and a comparison)."""
    limit = parse_limit(args.limit)
    prompt = PromptSettings(
        apply_chat_template=args.apply_chat_template,
        system_instruction=args.system_instruction,
        fewshot_as_multiturn=args.fewshot_as_multiturn,
        num_fewshot=args.num_fewshot,
        gen_kwargs=parse_gen_kwargs(args.gen_kwargs),
    )
    register_user_tasks(include_dirs(args.include_path), TASKS, GROUPS)
    board, task_names, groups = _run_tasks(args)
    specs = _model_specs(args, board)
    if args.compare and len(specs) != 2:  # noqa: PLR2004 - a pair
        raise SbtError(f"--compare needs exactly two --models, got {len(specs)}")
    if args.judge:
        parse_model_spec(args.judge)  # a bad judge spec stops the run before any model work
    check_run_flags(args)
    sinks = check_sinks(_split(args.log, "--log")) if args.log else ()
    group = init_process_group(args.device)
    cfg = RunConfig(
        output_dir=Path(args.output_dir),
        options=BackendOptions(
            device=device_for(group, args.device),
            dtype=args.dtype,
            batch_size=parse_batch_size(args.batch_size),
            max_batch_tokens=args.max_batch_tokens,
            prefix_sharing=not args.no_prefix_sharing,
        ),
        limit=limit,
        data_dir=resolve_data_dir(args.data_dir),
        seed=args.seed,
        group=group,
        parser=args.parser,
        skip_missing_images=args.skip_missing_images,
        corruption=parse_corruptions(args.corruptions),
        judge=args.judge,
        overwrite=args.overwrite,
        prompt=prompt,
        predict_only=args.predict_only,
    )
    n_failed, docs = 0, []
    for spec in specs:  # the last model's refusal must not come after the first one's run
        check_image_input(spec, [task_spec(name, cfg) for name in task_names])
    for spec in specs:
        results = evaluate_model(spec, task_names, groups, cfg)
        docs.append(results)
        if group.is_main:
            print(f"\n{spec.name}  ->  {cfg.output_dir / spec.slug() / 'results.json'}")
            print(summarize(results, task_names))
            log_results(sinks, results, cfg.output_dir / spec.slug())
            n_failed += sum(results["tasks"][t]["n_failed"] for t in task_names)
    # Only after success: a failing process exits and the launcher stops the others, while
    # a barrier here could pair with another rank's barrier inside the run.
    group.close()
    if args.compare and board is not None and group.is_main:
        print_pair_statistics(cfg.output_dir, specs, task_names, args.seed)
        print(f"\n{specs[1].name} vs {specs[0].name} ({board.name})")
        print(render_differences((specs[0].name, specs[1].name), differences(docs, board)), end="")
    if n_failed:
        print(
            f"sbt-bench: {n_failed} items failed after all retries and were not scored; "
            "rerun the same command to retry only those",
            file=sys.stderr,
        )
        return 1
    return 0


def print_pair_statistics(
    output_dir: Path, specs: Sequence[ModelSpec], task_names: Sequence[str], seed: int
) -> None:
    """`sbt-bench compare` of the pair just run; tasks that cannot pair say why."""
    from sbt_bench.comparison import compare_runs, load_run, render_comparisons  # noqa: PLC0415

    base, other = (load_run(output_dir / spec.slug()) for spec in specs)
    comparison = compare_runs(base, other, task_names, seed=seed, strict=False)
    print()
    print(render_comparisons([comparison], "md"), end="")


def score(args: argparse.Namespace) -> int:
    """Score recorded answers of one task; print its summary."""
    from sbt_bench.rescoring import score_predictions  # noqa: PLC0415 - imports the runner

    register_user_tasks(include_dirs(args.include_path), TASKS, GROUPS)
    cfg = RunConfig(
        output_dir=Path(args.output_dir),
        options=BackendOptions(),
        limit=parse_limit(args.limit),
        data_dir=resolve_data_dir(args.data_dir),
        parser=args.parser,
    )
    results = score_predictions(args.task, Path(args.predictions), cfg)
    print(summarize(results, [args.task]))
    return 0


def compare(args: argparse.Namespace) -> int:
    """Print paired statistics of each OTHER against BASE; write their flipped items."""
    from sbt_bench.comparison import (  # noqa: PLC0415 - scipy only when comparing
        compare_runs,
        load_run,
        render_comparisons,
        write_flips,
    )

    if args.resamples < 1:
        raise SbtError("--resamples must be a positive number of draws")
    base = load_run(Path(args.base))
    tasks = _split(args.tasks, "--tasks") if args.tasks else None
    comparisons = []
    for folder in args.others:
        other = load_run(Path(folder))
        comparison = compare_runs(base, other, tasks, resamples=args.resamples, seed=args.seed)
        flips = Path(args.flips_dir) / f"{base.path.name}__vs__{other.path.name}"
        for path in write_flips(comparison, flips):
            log.info("wrote %s", path)
        comparisons.append(comparison)
    text = render_comparisons(comparisons, args.format)
    emit(text, args.output)
    return 0


def convert_llava(args: argparse.Namespace) -> int:
    """Write the llava-hf version of an original-LLaVA checkpoint."""
    from sbt_train.model.convert import ConvertConfig, convert_original_llava  # noqa: PLC0415

    cfg = ConvertConfig(Path(args.source), Path(args.output), args.vision_tower, args.template)
    out = convert_original_llava(cfg)
    print(f"converted {args.source} -> {out}; evaluate it as llava:{out}")
    return 0


def parse_corruptions(text: str | None) -> CorruptionSpec | None:
    """`names[:severities]`, e.g. `fog,snow:1,3` or `all:2`; None keeps the task's own."""
    if text is None:
        return None
    names, _, severities = text.partition(":")
    try:
        levels = tuple(int(s) for s in severities.split(",")) if severities else (1, 3, 5)
    except ValueError:
        raise SbtError(
            f"--corruptions {text!r}: severities are integers 1-5, e.g. fog:1,3"
        ) from None
    if not all(1 <= level <= 5 for level in levels):  # noqa: PLR2004 - ImageNet-C's range
        raise SbtError(f"--corruptions {text!r}: severities must be 1 to 5")
    return CorruptionSpec(names=tuple(_split(names, "--corruptions")), severities=levels)


def _run_tasks(args: argparse.Namespace) -> tuple[LeaderboardSpec | None, list[str], Any]:
    """The leaderboard spec (`--compare` or `--leaderboard`), task names and groups to run."""
    if args.compare and args.leaderboard:
        raise SbtError("give --compare or --leaderboard, not both")
    chosen = args.compare or args.leaderboard
    board = load_leaderboard_spec(chosen) if chosen else None
    if args.tasks is not None:
        names = _split(args.tasks, "--tasks")
    elif board is not None:
        names = spec_tasks(board)
    else:
        raise SbtError("give --tasks (or --compare/--leaderboard SPEC, which names its tasks)")
    task_names, groups = expand_task_names(names)
    return board, task_names, groups


def _model_specs(args: argparse.Namespace, board: LeaderboardSpec | None) -> list[ModelSpec]:
    """The `--models` entries (else the leaderboard's `models:`), `--lora-procedure` applied."""
    entries = args.models
    if entries is None and board is not None and board.models:
        entries = ",".join(board.models)
    if entries is None:
        raise SbtError("give --models (or --leaderboard SPEC whose spec lists models:)")
    specs = [parse_model_spec(m) for m in _split(entries, "--models")]
    if args.lora_procedure:
        specs = [with_lora_procedure(spec, args.lora_procedure) for spec in specs]
    return specs


def check_run_flags(args: argparse.Namespace) -> None:
    """Refuse out-of-range numbers and unknown devices before any data or model is loaded."""
    if args.max_batch_tokens is not None and args.max_batch_tokens < 1:
        raise SbtError(
            f"--max-batch-tokens must be a positive number of tokens, got {args.max_batch_tokens}"
        )
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", args.device):
        raise SbtError(
            f"--device {args.device!r} is not a device sbt-bench runs on; use cpu, cuda or cuda:N"
        )


def parse_limit(text: str | None) -> int | float | None:
    """`--limit`: a positive item count, or a fraction between 0 and 1.

    Example:
        >>> parse_limit("10"), parse_limit("0.25"), parse_limit(None)
        (10, 0.25, None)
    """
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if value >= 1 and value.is_integer():
        return int(value)
    if 0 < value < 1:
        return value
    raise SbtError(
        f"--limit must be a positive number of items or a fraction between 0 and 1, got {text!r}"
    )


def parse_batch_size(text: str) -> int | None:
    """A positive integer, or None for `auto`."""
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise SbtError(f"--batch-size must be a positive integer or 'auto', got {text!r}")
    return int(text)


def build_leaderboard(args: argparse.Namespace) -> int:
    """Print (or write) the leaderboard table of the given results."""
    spec = load_leaderboard_spec(args.spec)
    entries = load_entries(args.results)
    table = build_table([e.results for e in entries], spec)
    if args.base:
        comparison = compare_to_base(entries, spec, args.base)
        if args.format == "csv":
            text = render_base_csv(table, comparison)
        else:
            text = render_base_markdown(table, comparison, ci=args.ci)
    elif args.format == "csv":
        text = render_csv(table, ci=args.ci)
    else:
        text = render_markdown(table, ci=args.ci)
    emit(text, args.output)
    return 0


def write_report(args: argparse.Namespace) -> int:
    """Write the HTML report (and with --plots its charts as PNG and SVG)."""
    from sbt_bench.report import build_report  # noqa: PLC0415 - matplotlib loads only here

    written = build_report(
        args.results,
        spec_name=args.spec,
        base=args.base,
        output=Path(args.output),
        plots=Path(args.plots) if args.plots else None,
    )
    for path in written:
        print(f"wrote {path}")
    return 0


def summarize(results: dict[str, Any], task_names: list[str]) -> str:
    """A task | metric | value | stderr | n table of one model's results."""
    rows = []
    for name in task_names:
        entry = results["tasks"][name]
        for metric, value in entry["metrics"].items():
            err = entry["stderr"].get(metric)
            n = str(entry["n_samples"])
            rows.append((name, metric, format_value(value), format_value(err), n))
    for name, entry in results["groups"].items():
        for metric, value in entry["metrics"].items():
            err = entry["stderr"].get(metric)
            rows.append((f"{name} (mean)", metric, format_value(value), format_value(err), "-"))
    return _format_rows(("task", "metric", "value", "stderr", "n"), rows)


def _split(text: str, flag: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise SbtError(
            f"{flag} {text!r} names nothing; give comma-separated names, e.g. {flag} a,b"
        )
    return items


def _format_rows(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def emit(text: str, output: str | None) -> None:
    """Write a table to `--output` (atomically) or print it."""
    if output:
        write_atomic(Path(output), text, fix="give --output another path")
        print(f"wrote {output}")
    else:
        print(text, end="")
