"""Every ```bash block of README.md and docs/*.md runs as written (and the Python programs).

The blocks run in one scratch folder that looks like a checkout (so later pages use what
earlier ones made: the recipe's results, the trained model), in the order a reader meets
them. Stated differences from "as written", each for a reason:

- `SBT_DATA_DIR` points at `../shared/data`: the tests do not reach the Hugging Face hub.
- The recipe's 20 items per task become 3 (`--limit 20` / `limit=20`) and the training
  run's 20 steps become 2, so the whole walk takes minutes on two loaded cores.
- `sbt-bench`, `sbt-train` and `python` run this checkout's code (`python -m ...`).
- The commands in SKIPPED do not run here; each says why.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.needs import need

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
# The reader's order: each page's commands may use what the pages before it made.
ORDER = (
    "README.md",
    "docs/running.md",
    "docs/lm-eval.md",
    "docs/python-api.md",
    "docs/training.md",
    "docs/statistics.md",
)
SKIPPED = {
    "pip install": "installs from the network; the package under test is already installed",
    "python -m pytest -q": "the test suite itself; .ci/run runs it (test_ci_runs_the_readme_tests)",
}
SMALLER = (
    ("--limit 20", "--limit 3"),
    ("limit=20", "limit=3"),
    ("--max-steps 20", "--max-steps 2"),
)
LINKED = ("benchmarks", "examples")  # repository folders the commands read


@dataclass(frozen=True)
class Command:
    """One command (or Python block) of a page, as written there."""

    page: str
    language: str
    text: str

    def skip_reason(self) -> str | None:
        """Why this command does not run in the test, or None."""
        for prefix, reason in SKIPPED.items():
            if self.language == "bash" and self.text.startswith(prefix):
                return reason
        return None

    def as_run(self) -> str:
        """The command with the test's smaller sizes."""
        text = self.text
        for written, smaller in SMALLER:
            text = text.replace(written, smaller)
        return text


def pages() -> list[str]:
    """README.md and every docs page, in ORDER first, then the others by name."""
    others = sorted(
        str(p.relative_to(REPO))
        for p in (REPO / "docs").glob("*.md")
        if str(p.relative_to(REPO)) not in ORDER
    )
    return [*ORDER, *others]


def commands_of(page: str) -> list[Command]:
    """The bash commands (continuation lines joined, comments dropped) and Python blocks."""
    text = (REPO / page).read_text(encoding="utf-8")
    found: list[Command] = []
    for language, body in re.findall(
        r"^```(bash|python)\n(.*?)^```", text, re.MULTILINE | re.DOTALL
    ):
        if language == "python":
            # Python blocks of the reader's path are programs; elsewhere (ARCHITECTURE.md)
            # they are fragments that show how code is shaped.
            if page in ORDER:
                found.append(Command(page, language, body))
            continue
        joined = re.sub(r"\\\n\s*", "", body)
        lines = (line.strip() for line in joined.splitlines())
        found += [Command(page, language, t) for t in lines if t and not t.startswith("#")]
    return found


def all_commands() -> list[Command]:
    return [c for page in pages() for c in commands_of(page)]


def test_every_skip_names_a_command_of_the_docs() -> None:
    """Each skipped command still appears in the docs (no stale skip hides a new command)."""
    skipped = {c.text for c in all_commands() if c.skip_reason()}
    for prefix in SKIPPED:
        assert any(text.startswith(prefix) for text in skipped), prefix


def test_ci_runs_the_readme_tests() -> None:
    """.ci/run runs the README's test command."""
    readme = [c.text for c in commands_of("README.md") if c.text.startswith("python -m pytest")]
    assert readme == ["python -m pytest -q"]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 -m pytest -q\n" in ci


def test_readme_stays_short() -> None:
    """The README stays a front page (about 8 KB); the details live in docs/."""
    assert len((REPO / "README.md").read_bytes()) <= 8500


def _shims(folder: Path) -> Path:
    """`sbt-bench`, `sbt-train` and `python` that run this checkout's code."""
    folder.mkdir()
    for name, target in (
        ("sbt-bench", f'"{sys.executable}" -m sbt_bench'),
        ("sbt-train", f'"{sys.executable}" -m sbt_train'),
        ("python", f'"{sys.executable}"'),
    ):
        path = folder / name
        path.write_text(f'#!/usr/bin/env bash\nexec {target} "$@"\n')
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return folder


@pytest.mark.slow
def test_every_docs_command_runs(tmp_path: Path) -> None:
    """Every command block of the README and docs/ exits 0, in the reader's order."""
    need(SHARED_DATA.is_dir(), f"the real data folder {SHARED_DATA}")
    work = tmp_path / "checkout"
    work.mkdir()
    for name in LINKED:
        (work / name).symlink_to(REPO / name)
    env = dict(os.environ)
    env |= {
        "PATH": f"{_shims(tmp_path / 'bin')}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": str(REPO),
        "SBT_DATA_DIR": str(SHARED_DATA),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    for command in all_commands():
        if command.skip_reason():
            continue
        if command.language == "python":
            argv = [sys.executable, "-c", command.as_run()]
        else:
            argv = ["bash", "-euo", "pipefail", "-c", command.as_run()]
        proc = subprocess.run(
            argv, cwd=work, env=env, capture_output=True, text=True, timeout=1200, check=False
        )
        assert proc.returncode == 0, (
            f"{command.page}: `{command.as_run()}` exited {proc.returncode}\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
