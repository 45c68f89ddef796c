"""What ``estimator-ext export`` shows on stderr while it runs.

The library only logs (``variables/progress.py``); this handler is the one place that draws. On a
terminal, byte progress (records carrying ``record.progress``) is one line redrawn in place
with ``\\r``: a bar, the percentage and the MiB done. Anywhere else (a pipe, a CI log, a
file) every record is a plain line and no ``\\r`` is written, so logs stay readable.
``--quiet`` keeps only warnings and errors.

The bar is drawn here, in a few lines, rather than with tqdm or rich: every user of the
library would install that dependency, and only the CLI needs one line redrawn.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from typing import TextIO

from estimator_ext.variables.progress import Progress, mib

#: Cells of the bar; the rest of the line holds the label and the figures.
BAR_WIDTH = 24


def render_bar(prog: str, progress: Progress, columns: int) -> str:
    """One terminal line for ``progress``, at most ``columns - 1`` characters."""
    filled = round(BAR_WIDTH * progress.fraction)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    line = (
        f"{prog}: {progress.what} [{bar}] {100 * progress.fraction:3.0f}% "
        f"{mib(progress.done)} of {mib(progress.total)}"
    )
    return line[: max(columns - 1, 1)]


class ProgressHandler(logging.Handler):
    """Writes the ``estimator_ext`` logger's records to ``stream``, as a bar when ``bar``."""

    def __init__(self, stream: TextIO, prog: str, bar: bool, level: int = logging.INFO):
        super().__init__(level)
        self._stream = stream
        self._prog = prog
        self._bar = bar
        self._drawn = 0  # length of the bar line on screen; 0 when none is

    def emit(self, record: logging.LogRecord) -> None:
        try:
            progress = getattr(record, "progress", None)
            if self._bar and isinstance(progress, Progress):
                self._draw(progress)
                return
            self.end_bar()
            level = "warning: " if record.levelno >= logging.WARNING else ""
            self._stream.write(f"{self._prog}: {level}{record.getMessage()}\n")
            self._stream.flush()
        except Exception:  # logging must never break the export
            self.handleError(record)

    def _draw(self, progress: Progress) -> None:
        columns = shutil.get_terminal_size((80, 24)).columns
        line = render_bar(self._prog, progress, columns)
        self._stream.write("\r" + line.ljust(self._drawn))
        self._drawn = len(line)
        if progress.done >= progress.total:
            self.end_bar()
        self._stream.flush()

    def end_bar(self) -> None:
        """Ends the bar's line, so what follows starts on a line of its own."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = 0


@contextlib.contextmanager
def progress_on(stream: TextIO, prog: str, quiet: bool) -> Iterator[None]:
    """Shows the ``estimator_ext`` logger on ``stream`` (a bar if it is a terminal)
    for the body, and quiets TensorFlow's logger, whose deprecation chatter is not progress.
    """
    library_logger = logging.getLogger("estimator_ext")
    tensorflow_logger = logging.getLogger("tensorflow")
    is_terminal = hasattr(stream, "isatty") and stream.isatty()
    level = logging.WARNING if quiet else logging.INFO
    handler = ProgressHandler(stream, prog, bar=is_terminal, level=level)
    saved_levels = library_logger.level, tensorflow_logger.level
    library_logger.addHandler(handler)
    if library_logger.getEffectiveLevel() > level:
        library_logger.setLevel(level)
    tensorflow_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        handler.end_bar()
        library_logger.removeHandler(handler)
        library_logger.setLevel(saved_levels[0])
        tensorflow_logger.setLevel(saved_levels[1])
