"""Progress of a long export on the ``estimator_ext`` logger.

A multi-GB export runs for seconds to minutes; users see it advance through INFO records,
never more than one a second (:class:`ProgressLog`). Each record carries its figures as
``record.progress`` (a :class:`Progress`), so a front end can draw them without parsing
the message. The library never draws a progress bar: only the CLI does
(``estimator_ext/cli/progress_bar.py``), and only when stderr is a terminal.

The "copy" strategy's local-to-local copies (``storage/local_copy.py``) report each chunk. Copies
made by ``tf.io.gfile.copy`` report nothing until they end; for a local destination of a
remote checkpoint, :func:`watch_growth` polls the growing file from a thread
(``gfile.copy`` releases the GIL) so a multi-GB copy still logs once a second. A remote
destination advances file by file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Callable

logger = logging.getLogger("estimator_ext")

#: Progress is logged at most this often (seconds), plus once at the end.
PROGRESS_INTERVAL = 1.0


@dataclasses.dataclass(frozen=True)
class Progress:
    """The figures of one progress record: ``done`` of ``total`` bytes of ``what``."""

    what: str
    done: int
    total: int

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 1.0


class ProgressLog:
    """Logs ``done`` of ``total`` bytes on the ``estimator_ext`` logger at INFO.

    At most once every ``interval`` seconds while work goes on (so a long copy shows
    several records), and once when :meth:`finish` is called. Safe to advance from a
    watcher thread. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        what: str,
        total: int,
        interval: float = PROGRESS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._what = what
        self._total = total
        self._interval = interval
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()
        self.done = 0

    @property
    def interval(self) -> float:
        return self._interval

    def advance(self, nbytes: int) -> None:
        """Counts ``nbytes`` more done; logs if ``interval`` has passed since the last record."""
        with self._lock:
            self._set(self.done + nbytes)

    def update_to(self, done: int) -> None:
        """Sets the bytes done (never backwards); logs as :meth:`advance` does."""
        with self._lock:
            self._set(max(self.done, done))

    def finish(self) -> None:
        with self._lock:
            self._log()

    def _set(self, done: int) -> None:
        self.done = done
        now = self._clock()
        if now - self._last >= self._interval:
            self._last = now
            self._log()

    def _log(self) -> None:
        figures = Progress(self._what, self.done, self._total)
        logger.info(
            "%s: %s of %s (%.0f%%)",
            self._what,
            mib(self.done),
            mib(self._total),
            100.0 * figures.fraction,
            extra={"progress": figures},
        )


@contextlib.contextmanager
def watch_growth(path: str, progress: ProgressLog, base: int) -> Iterator[None]:
    """While the body writes local file ``path``, reports ``base + its size`` to ``progress``.

    A daemon thread polls the file's size every quarter of the progress interval (between
    1 ms and 250 ms): enough for one record a second, and nothing but a ``stat`` per poll.
    It stops when the body ends, by success or failure; a file that does not exist yet
    counts as empty.
    """
    stop = threading.Event()
    poll = min(max(progress.interval / 4, 0.001), 0.25)

    def watch() -> None:
        while not stop.wait(poll):
            try:
                progress.update_to(base + os.path.getsize(path))
            except OSError:
                pass  # not created yet, or already renamed

    watcher = threading.Thread(target=watch, name="estimator_ext-progress", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()


def mib(nbytes: int) -> str:
    return f"{nbytes / (1024 * 1024):.1f} MiB"
