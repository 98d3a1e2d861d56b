"""User task folders: --include-path, $SBT_TASKS_PATH, `sbt:` includes, module:function hooks."""

from __future__ import annotations

import os
import py_compile
import shutil
from pathlib import Path

import pytest

from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import find_bundled_dir
from sbt_bench.core.registry import Registry
from sbt_bench.metrics import GENERATION_SCORERS, METRIC_DIRECTIONS
from sbt_bench.tasks.base import build_task
from sbt_bench.tasks.catalog import TaskCatalog
from sbt_bench.tasks.hooks import BUNDLED_HOOKS
from sbt_bench.tasks.loader import register_all
from sbt_bench.tasks.processors import PROCESSORS
from sbt_bench.tasks.readers import READERS
from sbt_bench.tasks.spec import GroupSpec, TaskSpec
from sbt_bench.tasks.user_tasks import include_dirs, register_user_tasks
from tests.cli_runner import assert_one_line_error, results_of, run_cli, sbt

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "user_tasks"

HOOKED_YAML = """\
task: my_marked
version: "1.0"
kind: generation
description: "Read, processed and scored by the folder's own functions"
dataset:
  split: test
  local_file: ./items.jsonl
  reader: hooks:read_items
  process: hooks:add_gold
prompt: "Question: {question}\\nAnswer:"
generation:
  max_new_tokens: 2
  references_field: gold
  scorer: hooks:mark
  metrics: [mark]
"""

HOOKS_PY = """\
import json

from sbt_bench.metrics import declare_metrics

declare_metrics({"mark": HIGHER_IS_BETTER})


def read_items(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def add_gold(records):
    return [dict(r, gold="yes") for r in records]


def mark(answer, references, negatives):
    return {"mark": MARK}
"""


def fresh_catalog() -> TaskCatalog:
    """A catalog of the bundled tasks only, untouched by other tests' user tasks."""
    tasks: Registry[TaskSpec] = Registry("task")
    groups: Registry[GroupSpec] = Registry("task group")
    register_all(find_bundled_dir("tasks"), tasks, groups)
    return TaskCatalog(tasks, groups, hooks=BUNDLED_HOOKS.with_overlay())


def write_hooked_folder(folder: Path, mark: str, *, higher_is_better: bool = True) -> Path:
    """A user folder whose YAML names a `module:function` reader, processor and scorer.

    The scorer gives every item the score `mark` (a Python literal), so a run shows which
    definition of `hooks:mark` it used; its module declares `mark` `higher_is_better`.
    """
    folder.mkdir(parents=True)
    (folder / "my_marked.yaml").write_text(HOOKED_YAML)
    module = HOOKS_PY.replace("MARK", mark).replace("HIGHER_IS_BETTER", str(higher_is_better))
    (folder / "hooks.py").write_text(module)
    questions = ["Is the sky blue?", "Is ice hot?", "Is fire cold?"]
    (folder / "items.jsonl").write_text("".join(f'{{"question": "{q}"}}\n' for q in questions))
    return folder


def copy_example(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    shutil.copytree(EXAMPLE, folder)
    return folder


class TestUserTasks:
    def test_worked_example_runs_end_to_end(self, tiny_model_dir: Path, tmp_path: Path) -> None:
        """The README's example folder runs as lm-eval's --include_path does, scored like POPE."""
        out = tmp_path / "out"
        code = run_cli(
            "run",
            "--include-path",
            str(EXAMPLE),
            "--tasks",
            "my_yes_no",
            "--models",
            f"hf:{tiny_model_dir}",
            "--output-dir",
            str(out),
        )
        assert code == 0
        entry = results_of(out)["tasks"]["my_yes_no"]
        assert entry["n_samples"] == 6
        assert set(entry["metrics"]) == {
            "accuracy",
            "precision",
            "recall",
            "f1",
            "yes_ratio",
            "unparseable",
        }

    def test_include_resolves_bundled_fragment_and_user_reader(self, tmp_path: Path) -> None:
        """`include: sbt:...` takes the POPE scorer; the reader is the user's own function."""
        catalog = fresh_catalog()
        folder = copy_example(tmp_path)
        assert register_user_tasks([folder], catalog) == ["my_yes_no"]
        spec = catalog.tasks.get("my_yes_no")
        assert (spec.answer.scorer, spec.aggregate, spec.image) == ("pope", "binary", None)
        assert spec.dataset.reader == f"{folder / 'my_readers.py'}:read_yes_no_csv"
        assert spec.dataset.local_file == str(folder / "my_questions.csv")

    def test_env_path_is_read(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """$SBT_TASKS_PATH adds os.pathsep-separated folders after the flags."""
        a, b = tmp_path / "a", tmp_path / "b"
        a.mkdir()
        b.mkdir()
        monkeypatch.setenv("SBT_TASKS_PATH", f"{a}:{b}")
        assert include_dirs([str(b)]) == [b.resolve(), a.resolve()]

    def test_registering_a_folder_twice_is_a_no_op(self, tmp_path: Path) -> None:
        """The Python API may register the same folder on every call."""
        catalog = fresh_catalog()
        folder = copy_example(tmp_path)
        register_user_tasks([folder], catalog)
        assert register_user_tasks([folder], catalog) == []


class TestUserTaskErrors:
    def test_clash_with_bundled_task_names_both_files(self, tmp_path: Path) -> None:
        """A user task named like a bundled one stops with both files in one line."""
        folder = tmp_path / "clash"
        folder.mkdir()
        (folder / "pope_random.yaml").write_text(
            "include: sbt:pope/pope_random.yaml\ntask: pope_random\n"
        )
        proc = sbt("list", "--include-path", str(folder))
        assert_one_line_error(proc, str(folder / "pope_random.yaml"), "tasks/pope/pope_random.yaml")

    def test_missing_user_function(self, tmp_path: Path) -> None:
        """A `module:function` whose function is not in the file is one line naming both."""
        folder = copy_example(tmp_path)
        yaml = folder / "my_yes_no.yaml"
        yaml.write_text(yaml.read_text().replace("read_yes_no_csv", "read_nothing"))
        proc = sbt("list", "--include-path", str(folder))
        assert_one_line_error(proc, "my_readers.py", "read_nothing")

    def test_hook_outside_the_folder_is_refused(self, tmp_path: Path) -> None:
        """`module:function` resolves only to files inside the include folder."""
        folder = copy_example(tmp_path)
        (tmp_path / "outside.py").write_text("def read(path):\n    return []\n")
        yaml = folder / "my_yes_no.yaml"
        yaml.write_text(yaml.read_text().replace("my_readers:read_yes_no_csv", "..outside:read"))
        proc = sbt("list", "--include-path", str(folder))
        assert_one_line_error(proc, "inside")

    def test_user_reader_error_is_one_line(self, tiny_model_dir: Path, tmp_path: Path) -> None:
        """An exception in the user's reader becomes one line naming the function."""
        folder = copy_example(tmp_path)
        (folder / "my_questions.csv").write_text("text,question,answer\nx,y,maybe\n")
        proc = sbt(
            "run",
            "--include-path",
            str(folder),
            "--tasks",
            "my_yes_no",
            "--models",
            f"hf:{tiny_model_dir}",
            "--output-dir",
            str(tmp_path / "o"),
        )
        assert_one_line_error(proc, "read_yes_no_csv", "maybe")


class TestUserTasksAreScopedToTheRun:
    def test_two_evaluate_calls_do_not_see_each_others_tasks(
        self, tiny_model_dir: Path, tmp_path: Path
    ) -> None:
        """Each evaluate() call sees its own include folders only; the bundled tasks stay bare."""
        import sbt_bench
        from sbt_bench.tasks import TASKS

        first, second = copy_example(tmp_path / "a"), copy_example(tmp_path / "b")
        model = f"hf:{tiny_model_dir}"
        (run,) = sbt_bench.evaluate(model, "my_yes_no", include_path=[first], limit=2)
        assert run.tasks["my_yes_no"].n_samples == 2
        # Another folder defining the same task name is no clash in another run.
        (run,) = sbt_bench.evaluate(model, "my_yes_no", include_path=[second], limit=2)
        assert run.tasks["my_yes_no"].n_samples == 2
        assert "my_yes_no" not in TASKS
        with pytest.raises(SbtError, match="unknown task or group 'my_yes_no'"):
            sbt_bench.evaluate(model, "my_yes_no", limit=2)

    def test_evaluate_leaves_the_global_hook_registries_as_they_were(
        self, tiny_model_dir: Path, tmp_path: Path
    ) -> None:
        """A run's user reader, processor and scorer never enter the process-wide registries."""
        import sbt_bench

        def snapshot() -> list[list[str]]:
            return [READERS.names(), PROCESSORS.names(), GENERATION_SCORERS.names()]

        before = snapshot()
        folder = write_hooked_folder(tmp_path / "hooked", "1.0")
        (run,) = sbt_bench.evaluate(
            f"hf:{tiny_model_dir}", "my_marked", include_path=[folder], limit=2
        )
        assert run.tasks["my_marked"].n_samples == 2  # read and scored by the user's hooks
        assert run.tasks["my_marked"].metrics["mark"] == 1.0
        assert snapshot() == before

    def test_each_run_uses_its_own_definition_of_a_hook(
        self, tiny_model_dir: Path, tmp_path: Path
    ) -> None:
        """Same-named hooks in two folders, or one file edited between runs, are each run's own."""
        import sbt_bench

        model = f"hf:{tiny_model_dir}"
        first = write_hooked_folder(tmp_path / "a", "1.0")
        second = write_hooked_folder(tmp_path / "b", "0.0")

        def mark_of(folder: Path) -> float:
            (run,) = sbt_bench.evaluate(model, "my_marked", include_path=[folder], limit=2)
            return run.tasks["my_marked"].metrics["mark"]

        assert (mark_of(first), mark_of(second)) == (1.0, 0.0)
        # The same file edited, to the same size and time stamp (as within one second): its
        # cached bytecode, keyed by those, must not run the old code.
        hooks = first / "hooks.py"
        py_compile.compile(str(hooks), doraise=True)  # what an import writes by default
        stamp = hooks.stat()
        hooks.write_text(hooks.read_text().replace("1.0", "0.5"))
        os.utime(hooks, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
        assert mark_of(first) == 0.5

    def test_evaluate_leaves_the_global_metric_directions_as_they_were(
        self, tiny_model_dir: Path, tmp_path: Path
    ) -> None:
        """The metric a user hook module declares is the run's: recorded, then gone."""
        import sbt_bench

        folder = write_hooked_folder(tmp_path / "hooked", "1.0", higher_is_better=False)
        (run,) = sbt_bench.evaluate(
            f"hf:{tiny_model_dir}", "my_marked", include_path=[folder], limit=2
        )
        assert run.tasks["my_marked"].directions == {"mark": False}
        assert "mark" not in METRIC_DIRECTIONS

    def test_two_folders_may_declare_one_metric_opposite_ways(
        self, tiny_model_dir: Path, tmp_path: Path
    ) -> None:
        """Two runs in one process each get their own folder's direction of `mark`."""
        import sbt_bench

        model = f"hf:{tiny_model_dir}"
        up = write_hooked_folder(tmp_path / "up", "1.0", higher_is_better=True)
        down = write_hooked_folder(tmp_path / "down", "1.0", higher_is_better=False)
        for folder, direction in ((up, True), (down, False), (up, True)):
            (run,) = sbt_bench.evaluate(model, "my_marked", include_path=[folder], limit=2)
            assert run.tasks["my_marked"].metrics["mark"] == 1.0
            assert run.tasks["my_marked"].directions == {"mark": direction}

    def test_opposite_declarations_in_one_run_are_one_line(self, tmp_path: Path) -> None:
        """Within one run a metric name means one thing: the second folder's file is named."""
        up = write_hooked_folder(tmp_path / "up", "1.0", higher_is_better=True)
        down = write_hooked_folder(tmp_path / "down", "1.0", higher_is_better=False)
        (down / "my_marked.yaml").rename(down / "my_other.yaml")
        yaml = down / "my_other.yaml"
        yaml.write_text(yaml.read_text().replace("task: my_marked", "task: my_other"))
        with pytest.raises(SbtError, match=r"down/hooks\.py failed.*'mark' is declared both"):
            register_user_tasks([up, down], fresh_catalog())

    def test_user_tasks_into_the_global_hooks_are_refused(self, tmp_path: Path) -> None:
        """Registering user tasks in a catalog over the global hooks is a programming error."""
        catalog = fresh_catalog()
        bare = TaskCatalog(catalog.tasks, catalog.groups)
        with pytest.raises(ValueError, match="overlay"):
            register_user_tasks([copy_example(tmp_path)], bare)


SCORER_TASK = """\
task: first_words
version: "1.0"
kind: generation
description: "Answers scored by their first word, with the user's own scorer"
dataset:
  split: test
  local_file: ./items.jsonl
  reader: json_lines
prompt: "Q: {question}\\nA:"
generation:
  references_field: answer
  scorer: my_scorers:first_word
  metrics: [METRIC]
"""

SCORER_MODULE = """\
from sbt_bench.metrics import declare_metrics

DECLARE


def first_word(answer, references, negatives):
    words = answer.lower().split()
    return {"METRIC": float(bool(words) and words[0] in references)}
"""


def scorer_folder(tmp_path: Path, metric: str, *, declared: bool) -> Path:
    """A user task folder whose scorer hook reports `metric`, declared or not."""
    folder = tmp_path / "scorers"
    folder.mkdir()
    (folder / "first_words.yaml").write_text(SCORER_TASK.replace("METRIC", metric))
    declare = f"declare_metrics({{{metric!r}: True}})" if declared else ""
    module = SCORER_MODULE.replace("DECLARE", declare).replace("METRIC", metric)
    (folder / "my_scorers.py").write_text(module)
    (folder / "items.jsonl").write_text('{"question": "Sky?", "answer": "blue"}\n')
    return folder


class TestUserScorerDirections:
    def test_a_user_metric_without_a_direction_is_refused_at_registration(
        self, tmp_path: Path
    ) -> None:
        """A scorer hook whose metric declares no direction stops registration, naming the fix."""
        folder = scorer_folder(tmp_path, "first_word_undeclared", declared=False)
        with pytest.raises(SbtError, match=r"'first_word_undeclared'.*declares no direction"):
            register_user_tasks([folder], fresh_catalog())

    def test_a_declared_user_metric_has_its_direction(self, tmp_path: Path) -> None:
        """`declare_metrics` in the hook's module gives the task's metric its direction."""
        catalog = fresh_catalog()
        folder = scorer_folder(tmp_path, "first_word_declared", declared=True)
        assert register_user_tasks([folder], catalog) == ["first_words"]
        task = build_task(catalog.tasks.get("first_words"), hooks=catalog.hooks)
        assert task.metric_names() == ("first_word_declared",)
        assert task.higher_is_better("first_word_declared") is True
