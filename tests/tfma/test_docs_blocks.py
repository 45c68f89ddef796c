"""Runs the Python blocks of docs/pipelines.md that need TFMA (marked
``<!-- tested-in: tfma -->``), which the main docs test skips.

The blocks run in order, in one namespace, in a temporary working directory, as a reader
would paste them: later blocks use the names of earlier ones. The blocks that use
``estimator_ext.patch(builtin=True)`` run last, in their own test, skipped only when
this tree's ``patch`` has no ``builtin=`` parameter.
"""

from __future__ import annotations

import inspect
import os
import pathlib
from typing import Any, Dict, List

import pytest

import estimator_ext
from tests.tfma import markdown_blocks

PAGE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "pipelines.md"
SUITE = "tfma"
BUILTIN_MARK = "patch(builtin=True)"


def _blocks() -> List[markdown_blocks.Block]:
    return [block for block in markdown_blocks.python_blocks(PAGE) if block.suite == SUITE]


def _run(block: markdown_blocks.Block, namespace: Dict[str, Any]) -> None:
    code = compile(block.source, f"{PAGE.name}:{block.line}", "exec")
    exec(code, namespace)  # noqa: S102: the page's own code, as the reader runs it


@pytest.fixture(scope="module")
def namespace(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """The namespace after every TFMA block that does not need patch(builtin=True)."""
    workdir = tmp_path_factory.mktemp("docs")
    previous = os.getcwd()
    os.chdir(workdir)
    try:
        names: Dict[str, Any] = {"__name__": "__docs__"}
        for block in _blocks():
            if BUILTIN_MARK not in block.source:
                _run(block, names)
        return names
    finally:
        os.chdir(previous)


def test_the_page_has_tfma_blocks_in_both_sections():
    blocks = _blocks()
    assert len(blocks) >= 4, [block.line for block in blocks]
    assert any(BUILTIN_MARK in block.source for block in blocks)
    assert all(block.language == "python" for block in blocks)


def test_tfma_blocks_run(namespace):
    # The blocks' own asserts compare TFMA's metrics with estimator.evaluate.
    assert "metrics_by_slice" in namespace and "hand_built_export_dir" in namespace
    assert sorted(namespace["metrics_by_slice"]) == [(), (("color", "blue"),), (("color", "red"),)]


@pytest.mark.skipif(
    "builtin" not in inspect.signature(estimator_ext.patch).parameters,
    reason="estimator_ext.patch() has no builtin= parameter in this tree (issue 10, item 2)",
)
def test_builtin_patch_blocks_run(namespace):
    builtin_blocks = [block for block in _blocks() if BUILTIN_MARK in block.source]
    names = dict(namespace)
    for block in builtin_blocks:
        _run(block, names)
    assert isinstance(names["eval_model_dir"], bytes)
