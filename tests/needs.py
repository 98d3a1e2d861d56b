"""What a test needs from the machine (data, Java, Chromium, tools): skipped locally, failed in CI.

Under `CI=true` a missing requirement is a failure that names it, never a silent skip: CI
installs everything (`.ci/run`), so a skip there would hide a broken install step.
"""

from __future__ import annotations

import os
import shutil

import pytest


def need(available: bool, what: str, *, module_level: bool = False) -> None:
    """Go on when `available`; else skip (locally) or fail (CI) naming `what` is missing."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing; .ci/run must provide it under CI", pytrace=False)
    pytest.skip(f"{what} is missing", allow_module_level=module_level)


def need_program(name: str, *, module_level: bool = False) -> str:
    """The path of a program on PATH (java, chromium, lint-imports), or skip/fail as `need`."""
    path = shutil.which(name)
    need(path is not None, f"the program {name!r}", module_level=module_level)
    assert path is not None
    return path
