"""Every ```python block in README.md and docs/*.md runs, as a reader would paste it.

The block conventions (``<!-- continued -->`` and the others) are in tests/support/doc_blocks.py and
docs/README.md. Each script runs in a subprocess in a fresh temporary directory, with the
checkout on ``PYTHONPATH``; its test id names the page and line where it starts. Blocks
marked ``<!-- tested-in: SUITE -->`` are left to that suite (e.g. tests/tfma/).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.support import doc_blocks, estimator_namespaces
from tests.support.doc_blocks import REPO_ROOT, Script

PAGES = doc_blocks.doc_pages()
SCRIPTS: list[Script] = [script for page in PAGES for script in doc_blocks.markdown_scripts(page)]
README = REPO_ROOT / "README.md"
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _runner() -> tuple[str, ...]:
    """``python SCRIPT`` up to TensorFlow 2.15; on 2.16 and later, which have no
    ``tf.estimator``, the script gets the one the test process has
    (tests/support/with_estimator_namespaces.py)."""
    if estimator_namespaces.tensorflow_lacks_estimator():
        return ("-m", "tests.support.with_estimator_namespaces")
    return ()


@pytest.mark.parametrize("script", SCRIPTS, ids=[script.test_id for script in SCRIPTS])
def test_doc_python_blocks_run(script: Script, tmp_path: Path) -> None:
    completed = doc_blocks.run_script(script, tmp_path, runner=_runner())
    assert completed.returncode == 0, doc_blocks.failure_report(script, completed)


def test_readme_starts_with_the_two_setup_commands_that_ci_runs() -> None:
    text = README.read_text(encoding="utf-8")
    first_section = text.split("\n## ", 1)[0]
    assert "make demo" in first_section and "make test" in first_section
    ci_run = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test\b", ci_run, re.MULTILINE), ".ci/run must run `make test`"
    assert os.access(REPO_ROOT / ".ci" / "run", os.X_OK)


def _links(text: str) -> list[str]:
    """Markdown link targets outside code (fenced blocks and `inline code` removed)."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return LINK.findall(re.sub(r"`[^`\n]*`", "", prose))


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors for the page's headings: lower case, punctuation dropped, - for space."""
    anchors = set()
    prose = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    for heading in re.findall(r"^#+ (.+)$", prose, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_relative_links_point_at_files_and_headings_that_exist(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for target in _links(text):
        if re.match(r"^[a-z]+:", target):  # https:, mailto: ...
            continue
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        assert linked.exists(), f"{page.name}: link {target!r} points at a missing file"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), f"{page.name}: no heading for {target!r}"


def test_docs_index_links_every_docs_page() -> None:
    index = REPO_ROOT / "docs" / "README.md"
    linked = {target.partition("#")[0] for target in _links(index.read_text(encoding="utf-8"))}
    pages = {page.name for page in (REPO_ROOT / "docs").glob("*.md")} - {"README.md"}
    assert pages <= linked, f"docs/README.md does not link {sorted(pages - linked)}"


def _makefile_targets_and_variables() -> tuple[set[str], set[str]]:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([A-Za-z][\w-]*):(?!=)", makefile, re.MULTILINE))
    variables = set(re.findall(r"^([A-Z_]+) \?=", makefile, re.MULTILINE))
    return targets, variables


def test_make_commands_in_shell_blocks_name_real_targets_and_variables() -> None:
    """Shell blocks are text, not run: their ``make`` lines must still match the Makefile."""
    targets, variables = _makefile_targets_and_variables()
    checked = 0
    for page in PAGES:
        for block in doc_blocks.parse_blocks(page.read_text(encoding="utf-8")):
            if block.language not in ("bash", "console", "sh", "shell"):
                continue
            for line in block.code.splitlines():
                command = line.split("#", 1)[0].strip().lstrip("$ ").strip()
                if not command.startswith("make"):
                    continue
                words = command.split()[1:]
                for word in words:
                    if "=" in word:
                        name = word.split("=", 1)[0]
                        assert name in variables, f"{page.name}: `{command}` sets unknown {name}"
                    else:
                        assert word in targets, f"{page.name}: `{command}`: no target {word!r}"
                checked += 1
    assert checked, "no make command found in any shell block"


def test_parser_conventions() -> None:
    """The markers mean what tests/support/doc_blocks.py says (guards the parser itself)."""
    text = "\n".join(
        [
            "```python",
            "a = 1",
            "```",  # 1-3
            "<!-- continued -->",
            "",
            "```python",
            "b = a + 1",
            "```",  # 4-8
            "<!-- not-tested: needs a GCS bucket -->",
            "```python",
            "raise SystemExit(1)",
            "```",
            "```bash",
            "make test",
            "```",  # 13-15
            "```python",
            "c = 3",
            "```",  # 16-18
            "<!-- continued from the quickstart -->",
            "```python",
            "d = a",
            "```",  # 19-22
            "<!-- tested-in: tfma -->",
            "```python",
            "import tensorflow_model_analysis",
            "```",
            "<!-- continued -->",
            "```python",
            "e = 5",
            "```",  # 27-30
        ]
    )
    scripts = doc_blocks.scripts_from_text(text, page="page.md")
    assert [(script.first_line, script.block_count) for script in scripts] == [(2, 3), (17, 1)]
    assert "b = a + 1" in scripts[0].code and "d = a" in scripts[0].code
    code = "".join(script.code for script in scripts)
    assert "SystemExit" not in code and "tensorflow_model_analysis" not in code
    assert "e = 5" not in code

    (tfma,) = doc_blocks.scripts_from_text(text, suite="tfma", page="page.md")
    assert (tfma.first_line, tfma.block_count, tfma.suite) == (25, 2, "tfma")
    assert "tensorflow_model_analysis" in tfma.code and "e = 5" in tfma.code
    assert tfma.test_id == "page.md:25"


def test_a_continued_block_with_nothing_before_it_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"page.md line 3: a 'continued' block before any"):
        doc_blocks.scripts_from_text("<!-- continued -->\n```python\nx = 1\n```", page="page.md")


def test_markdown_scripts_reads_a_page_and_names_it(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# T\n\n<!-- tested-in: tfma -->\n```python\nprint(1)\n```\n", encoding="utf-8")
    assert doc_blocks.markdown_scripts(page) == []
    (script,) = doc_blocks.markdown_scripts(page, suite="tfma")
    assert (script.page, script.first_line) == ("page.md", 5)
    completed = doc_blocks.run_script(script, tmp_path)
    assert (completed.returncode, completed.stdout) == (0, "1\n")
