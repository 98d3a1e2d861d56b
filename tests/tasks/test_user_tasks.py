"""User task folders: --include-path, $SBT_TASKS_PATH, `sbt:` includes, module:function hooks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import find_bundled_dir
from sbt_bench.core.registry import Registry
from sbt_bench.tasks.catalog import TaskCatalog
from sbt_bench.tasks.loader import register_all
from sbt_bench.tasks.spec import GroupSpec, TaskSpec
from sbt_bench.tasks.user_tasks import include_dirs, register_user_tasks
from tests.cli_runner import assert_one_line_error, results_of, run_cli, sbt

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "user_tasks"


def fresh_catalog() -> TaskCatalog:
    """A catalog of the bundled tasks only, untouched by other tests' user tasks."""
    tasks: Registry[TaskSpec] = Registry("task")
    groups: Registry[GroupSpec] = Registry("task group")
    register_all(find_bundled_dir("tasks"), tasks, groups)
    return TaskCatalog(tasks, groups)


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
