"""The code blocks of README.md and docs/*.md, parsed into scripts that tests run.

Conventions (stated for writers in docs/README.md, "Development"); a marker is the last
non-blank line before a block's opening fence:

* Each ```python block starts a new script, run in a fresh temporary directory.
* ``<!-- continued -->``: the block is appended to the script of the tested block before it
  on the same page.
* ``<!-- continued from the quickstart -->``: the block is appended to the page's first
  script (in README.md, the quickstart), so a later section can build on it.
* ``<!-- not-tested: reason -->``: the block is not run; only for code that needs something
  CI does not have (a cloud bucket, a GPU). The reason is required: without one the marker
  is not recognised and the block runs.
* ``<!-- tested-in: SUITE -->``: the block starts a script of another test suite (e.g.
  ``tfma``, which runs in its own venv); the main docs test skips it, and
  ``markdown_scripts(path, suite="tfma")`` returns it. Blocks continued from it belong to
  the same suite.

Other fenced blocks (bash, console, text) are text, never run. This module imports neither
TensorFlow nor pytest, so any suite can use it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

REPO_ROOT = Path(__file__).resolve().parents[2]
MAIN_SUITE = "main"

CONTINUED = "<!-- continued -->"
CONTINUED_FROM_QUICKSTART = "<!-- continued from the quickstart -->"
NOT_TESTED = re.compile(r"<!--\s*not-tested:\s*\S.*-->")  # a reason is required
TESTED_IN = re.compile(r"<!--\s*tested-in:\s*([A-Za-z0-9_-]+)\s*-->")
FENCE = re.compile(r"^```(\S*)\s*$")


class Block(NamedTuple):
    """One fenced block: its language, 1-based line of its first code line, code, marker."""

    language: str
    first_line: int
    code: str
    marker: str  # "", "continued", "quickstart", "not-tested" or "tested-in"
    suite: str  # the suite named by a tested-in marker, else MAIN_SUITE


class Script(NamedTuple):
    """The code of one or more blocks, run as one Python script."""

    first_line: int  # 1-based line (in its page) of the first block's code
    code: str
    block_count: int = 1
    suite: str = MAIN_SUITE
    page: str = "README.md"  # the page's path relative to the repository

    @property
    def test_id(self) -> str:
        return f"{self.page}:{self.first_line}"


def parse_blocks(text: str) -> list[Block]:
    """Every fenced block of a Markdown text, in order, with the marker before it."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        start = index + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        previous = next((line.strip() for line in reversed(lines[:index]) if line.strip()), "")
        marker, suite = _marker(previous)
        code = "\n".join(lines[start:end])
        blocks.append(Block(match.group(1), start + 1, code, marker, suite))
        index = end + 1
    return blocks


def _marker(line: str) -> tuple[str, str]:
    if line == CONTINUED:
        return "continued", MAIN_SUITE
    if line == CONTINUED_FROM_QUICKSTART:
        return "quickstart", MAIN_SUITE
    if NOT_TESTED.fullmatch(line):
        return "not-tested", MAIN_SUITE
    tested_in = TESTED_IN.fullmatch(line)
    if tested_in:
        return "tested-in", tested_in.group(1)
    return "", MAIN_SUITE


def scripts_from_text(text: str, suite: str = MAIN_SUITE, page: str = "README.md") -> list[Script]:
    """The scripts of one page that belong to ``suite``, in page order.

    Raises ValueError when a continued block has no tested block before it to continue.
    """
    scripts: list[Script] = []
    for block in parse_blocks(text):
        if block.language != "python" or block.marker == "not-tested":
            continue
        header = f"# --- {page} line {block.first_line}\n{block.code}"
        if block.marker in ("continued", "quickstart"):
            if not scripts:
                raise ValueError(
                    f"{page} line {block.first_line}: a {block.marker!r} block before any "
                    "tested python block; remove the marker or put a block before it"
                )
            target = -1 if block.marker == "continued" else 0
            base = scripts[target]
            scripts[target] = base._replace(
                code=f"{base.code}\n\n{header}", block_count=base.block_count + 1
            )
        else:
            scripts.append(Script(block.first_line, header, 1, block.suite, page))
    return [script for script in scripts if script.suite == suite]


def markdown_scripts(path: Path, suite: str = MAIN_SUITE) -> list[Script]:
    """The scripts of the Markdown page at ``path`` that belong to ``suite``.

    Scripts are named after the page: the checkout's own pages (:func:`doc_pages`) by their
    path in the checkout (``docs/api.md``), any other page by its file name, wherever it
    lies (a temporary directory may be inside the checkout, e.g. under ``.nox/``).
    """
    path = Path(path).resolve()
    if path in doc_pages():
        page = path.relative_to(REPO_ROOT).as_posix()
    else:
        page = path.name
    return scripts_from_text(path.read_text(encoding="utf-8"), suite=suite, page=page)


def doc_pages() -> list[Path]:
    """README.md and every docs/*.md page, the pages whose blocks the tests run."""
    return [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]


def run_script(
    script: Script,
    cwd: Path,
    python: str = sys.executable,
    timeout: float = 600,
    env: dict[str, str] | None = None,
    runner: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Runs ``script`` with ``python`` in ``cwd``, the checkout first on PYTHONPATH.

    ``runner`` goes between ``python`` and the script, e.g. ``("-m", "estimator_ext",
    "run")`` for ``estimator-ext run``. Returns the completed process (stdout and stderr
    captured as text); the caller asserts.
    """
    script_path = Path(cwd) / "doc_script.py"
    script_path.write_text(script.code + "\n", encoding="utf-8")
    run_env = dict(os.environ if env is None else env)
    run_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), run_env.get("PYTHONPATH")])
    )
    run_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return subprocess.run(
        [python, *runner, str(script_path)],
        cwd=cwd,
        env=run_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def failure_report(script: Script, completed: subprocess.CompletedProcess[str]) -> str:
    """The assertion message for a script that exited non-zero: stdout and stderr's tail."""
    stderr_tail = "\n".join(completed.stderr.splitlines()[-40:])
    return (
        f"{script.page} script from line {script.first_line} ({script.block_count} block(s)) "
        f"exited {completed.returncode}\n--- stdout\n{completed.stdout}\n"
        f"--- stderr (tail)\n{stderr_tail}"
    )
