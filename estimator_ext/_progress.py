"""Progress of a long export on the ``estimator_ext`` logger, and copies that report it.

A multi-GB export runs for seconds to minutes; users see it advance through INFO records,
never more than one a second (:class:`ProgressLog`). The library never draws a progress
bar: a front end (the CLI) may turn these records, or its own callbacks, into one.

:func:`copy_files` copies whole files (the "copy" strategy's checkpoint files) while
reporting bytes: on local files with ``os.sendfile`` in slices of :data:`COPY_SLICE_BYTES`
(the kernel copies, as ``tf.io.gfile.copy`` does locally; nothing passes through this
process's memory), elsewhere with ``tf.io.gfile.copy`` one file at a time (remote
filesystems may copy server-side, which a chunked copy through this process would lose).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable, Sequence, Tuple

import tensorflow as tf

from estimator_ext import _fs

logger = logging.getLogger("estimator_ext")

#: Progress is logged at most this often (seconds), plus once at the end.
PROGRESS_INTERVAL = 1.0

#: ``os.sendfile`` copies at most this much per call, between two progress checks.
COPY_SLICE_BYTES = 64 * 1024 * 1024


class ProgressLog:
    """Logs ``done`` of ``total`` bytes on the ``estimator_ext`` logger at INFO.

    At most once every ``interval`` seconds while work goes on (so a long copy shows
    several records), and once when :meth:`finish` is called. ``clock`` is injectable
    for tests.
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
        self.done = 0

    def advance(self, nbytes: int) -> None:
        self.done += nbytes
        now = self._clock()
        if now - self._last >= self._interval:
            self._last = now
            self._log()

    def finish(self) -> None:
        self._log()

    def _log(self) -> None:
        percent = 100.0 * self.done / self._total if self._total else 100.0
        logger.info(
            "%s: %s of %s (%.0f%%)", self._what, _mib(self.done), _mib(self._total), percent
        )


def _mib(nbytes: int) -> str:
    return f"{nbytes / (1024 * 1024):.1f} MiB"


def copy_files(
    pairs: Sequence[Tuple[str, str]],
    what: str = "Copying variables",
    interval: float = PROGRESS_INTERVAL,
    slice_bytes: int = COPY_SLICE_BYTES,
) -> int:
    """Copies each (source, destination) file, logging bytes copied; returns the total.

    A destination that exists is an error (as ``tf.io.gfile.copy(overwrite=False)``).

    Raises:
      tf.errors.NotFoundError: a source is missing (e.g. deleted meanwhile).
      tf.errors.AlreadyExistsError / FileExistsError: a destination exists.
    """
    sizes = [tf.io.gfile.stat(source).length for source, _ in pairs]
    progress = ProgressLog(what, sum(sizes), interval)
    for (source, destination), size in zip(pairs, sizes):
        if _fs.has_scheme(source) or _fs.has_scheme(destination):
            tf.io.gfile.copy(source, destination, overwrite=False)
            progress.advance(size)
        else:
            _sendfile(_fs.local_path(source), _fs.local_path(destination), progress, slice_bytes)
    progress.finish()
    return progress.done


def _sendfile(source: str, destination: str, progress: ProgressLog, slice_bytes: int) -> None:
    with open(source, "rb") as source_file, open(destination, "xb") as destination_file:
        offset = 0
        while True:
            sent = os.sendfile(destination_file.fileno(), source_file.fileno(), offset, slice_bytes)
            if not sent:
                return
            offset += sent
            progress.advance(sent)
