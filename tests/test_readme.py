"""Every ```python block in README.md runs, as a reader would paste it.

Conventions (also stated in the README's Development section):

* Each ```python block starts a new script, run in a fresh temporary directory.
* A block whose preceding line (ignoring blank lines) is ``<!-- continued -->`` is appended
  to the script of the block before it; ``<!-- continued from the quickstart -->`` appends
  it to the README's first script instead, so a later section can build on the quickstart.
* A block preceded by ``<!-- not-tested: reason -->`` is skipped; only for code that needs
  something CI does not have (a cloud bucket, a GPU).

Each script runs in a subprocess with the checkout on ``PYTHONPATH``; the test id names the
README line where the script starts.
"""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List, NamedTuple

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
CONTINUED = "<!-- continued -->"
CONTINUED_FROM_QUICKSTART = "<!-- continued from the quickstart -->"
NOT_TESTED = re.compile(r"<!--\s*not-tested\b.*-->")
FENCE = re.compile(r"^```(\S*)\s*$")


class ReadmeScript(NamedTuple):
    first_line: int  # 1-based README line of the first block's code
    code: str
    block_count: int


def parse_python_blocks(text: str) -> List[dict]:
    """All fenced ```python blocks: their code, first line and the marker before them."""
    lines = text.splitlines()
    blocks, index = [], 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        language, start = match.group(1), index + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if language == "python":
            previous = next((line.strip() for line in reversed(lines[:index]) if line.strip()), "")
            marker = {CONTINUED: "continued", CONTINUED_FROM_QUICKSTART: "quickstart"}.get(previous, "")
            if not marker and NOT_TESTED.fullmatch(previous):
                marker = "not-tested"
            blocks.append({"first_line": start + 1, "code": "\n".join(lines[start:end]), "marker": marker})
        index = end + 1
    return blocks


def readme_scripts(text: str) -> List[ReadmeScript]:
    scripts: List[ReadmeScript] = []
    for block in parse_python_blocks(text):
        if block["marker"] == "not-tested":
            continue
        if block["marker"] in ("continued", "quickstart"):
            if not scripts:
                raise ValueError(f"README line {block['first_line']}: a continued block before any tested block")
            target = -1 if block["marker"] == "continued" else 0
            base = scripts[target]
            code = f"{base.code}\n\n# --- README line {block['first_line']}\n{block['code']}"
            scripts[target] = ReadmeScript(base.first_line, code, base.block_count + 1)
        else:
            code = f"# --- README line {block['first_line']}\n{block['code']}"
            scripts.append(ReadmeScript(block["first_line"], code, 1))
    return scripts


SCRIPTS = readme_scripts(README.read_text(encoding="utf-8"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[f"line{script.first_line}" for script in SCRIPTS])
def test_readme_python_blocks_run(script, tmp_path):
    script_path = tmp_path / "readme_script.py"
    script_path.write_text(script.code + "\n", encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    completed = subprocess.run(
        [sys.executable, str(script_path)], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600,
    )
    assert completed.returncode == 0, (
        f"README script from line {script.first_line} ({script.block_count} block(s)) exited "
        f"{completed.returncode}\n--- stdout\n{completed.stdout}\n--- stderr (tail)\n"
        + "\n".join(completed.stderr.splitlines()[-40:])
    )


def test_readme_has_tested_python_blocks():
    blocks = parse_python_blocks(README.read_text(encoding="utf-8"))
    tested = [block for block in blocks if block["marker"] != "not-tested"]
    assert len(tested) >= 5, "the quickstart and API reference examples should all be tested"
    assert SCRIPTS, "no README script to run"


def test_readme_starts_with_the_two_setup_commands_that_ci_runs():
    text = README.read_text(encoding="utf-8")
    first_section = text.split("\n## ", 1)[0]
    assert "make demo" in first_section and "make test" in first_section
    ci_run = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test\b", ci_run, re.MULTILINE), ".ci/run must run the README's test command"
    assert os.access(REPO_ROOT / ".ci" / "run", os.X_OK)


def test_readme_sections_exist():
    headings = re.findall(r"^## (.+)$", README.read_text(encoding="utf-8"), re.MULTILINE)
    for section in ("Install", "Quickstart", "The three ways in", "Migration from tf.contrib",
                    "API reference", "How it differs from TensorFlow's built-in", "AllModesExporter",
                    "CLI", "Filesystems", "Benchmarks", "Reliability", "Examples"):
        assert section in headings, f"README lacks the '## {section}' section"


def test_parser_conventions():
    """The markers mean what the module docstring says (guards the parser itself)."""
    text = "\n".join([
        "```python", "a = 1", "```",
        "<!-- continued -->", "", "```python", "b = a + 1", "```",
        "<!-- not-tested: needs a GCS bucket -->", "```python", "raise SystemExit(1)", "```",
        "```bash", "make test", "```",
        "```python", "c = 3", "```",
    ])
    scripts = readme_scripts(text)
    assert [script.block_count for script in scripts] == [2, 1]
    assert "a = 1" in scripts[0].code and "b = a + 1" in scripts[0].code
    assert "SystemExit" not in "".join(script.code for script in scripts)
    assert scripts[1].first_line == 17
