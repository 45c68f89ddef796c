"""A minimal reader of a Markdown page's fenced code blocks and their ``tested-in`` marks.

A block preceded (on the line before its opening fence, blank lines allowed) by
``<!-- tested-in: NAME -->`` belongs to the test suite NAME; other blocks belong to the
main docs test (suite ``""``).
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from typing import List, Union

_MARK = re.compile(r"^<!--\s*tested-in:\s*([\w-]+)\s*-->\s*$")
_FENCE = re.compile(r"^```\s*([\w+-]*)\s*$")


@dataclasses.dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the block's first source line
    language: str
    suite: str
    source: str


def blocks(path: Union[str, pathlib.Path]) -> List[Block]:
    """Every fenced block of the page, in order. Raises ValueError on an unclosed fence."""
    lines = pathlib.Path(path).read_text(encoding="utf-8").splitlines()
    found: List[Block] = []
    suite = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        mark = _MARK.match(line)
        fence = _FENCE.match(line)
        if mark:
            suite = mark.group(1)
        elif fence:
            start = index + 1
            end = start
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            if end == len(lines):
                raise ValueError(f"{path}:{index + 1}: the code block opened here is never closed")
            found.append(Block(start + 1, fence.group(1), suite, "\n".join(lines[start:end]) + "\n"))
            suite = ""
            index = end
        elif line.strip():
            suite = ""
        index += 1
    return found


def python_blocks(path: Union[str, pathlib.Path]) -> List[Block]:
    return [block for block in blocks(path) if block.language == "python"]
