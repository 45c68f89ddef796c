"""Progress of a long export on the ``estimator_ext`` logger.

A multi-GB export runs for seconds to minutes; users see it advance through INFO records,
never more than one a second (:class:`ProgressLog`). The library never draws a progress
bar: a front end (the CLI) may turn these records, or its own callbacks, into one.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

logger = logging.getLogger("estimator_ext")

#: Progress is logged at most this often (seconds), plus once at the end.
PROGRESS_INTERVAL = 1.0


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
