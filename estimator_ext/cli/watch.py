"""``estimator-ext export --watch``: export every new checkpoint of a model_dir, through one plan.

A sidecar for training (the role an Estimator's ``evaluator`` task plays): it polls the
``checkpoint`` file of ``model_dir`` every ``poll_interval`` seconds and exports each
checkpoint it has not seen, oldest first, through ONE
:class:`~estimator_ext.export.repeated.ExportPlan`, so the graphs are built once. At start
it exports the newest checkpoint already there (if any).

It ends after ``max_exports`` exports, after ``idle_timeout`` seconds without a new
checkpoint, or on SIGINT / SIGTERM. A signal during an export aborts that export, whose
hidden temporary directory is removed (an export is published whole or not at all); a
signal while old exports are being deleted waits until they are. Training keeps only its
last few checkpoints, so a checkpoint deleted before or while it is exported is logged as
skipped, and the watch goes on with the next one; any other failure ends it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import Iterator
from types import FrameType
from typing import Callable

from estimator_ext.export.repeated import ExportPlan
from estimator_ext.storage.retention import delete_old_exports
from estimator_ext.variables.checkpoint import checkpoint_present, listed_checkpoints

logger = logging.getLogger("estimator_ext")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class WatchStopped(BaseException):
    """Raised in the main thread by SIGINT / SIGTERM; a BaseException, as KeyboardInterrupt,
    so that no ``except Exception`` on the way swallows it and every ``finally`` runs."""


@dataclasses.dataclass(frozen=True)
class WatchLimits:
    """When a watch polls and when it ends (None: no such limit)."""

    poll_interval: float
    max_exports: int | None = None
    idle_timeout: float | None = None
    exports_to_keep: int | None = None


@dataclasses.dataclass
class WatchSummary:
    """What a watch did, and why it ended."""

    exported: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    ended_by: str = ""


class _SignalStop:
    """Turns the first SIGINT / SIGTERM into :class:`WatchStopped`, now or after a
    :meth:`deferred` section; later signals are ignored, so clean-up runs to its end."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._deferring = 0

    def handle(self, signum: int, frame: FrameType | None) -> None:
        del frame
        if self.signal_name is not None:
            return
        self.signal_name = signal.Signals(signum).name
        if not self._deferring:
            raise WatchStopped(self.signal_name)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if self.signal_name is not None and not self._deferring:
            raise WatchStopped(self.signal_name)


@contextlib.contextmanager
def _signals_stop(stop: _SignalStop) -> Iterator[None]:
    previous = {number: signal.signal(number, stop.handle) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def watch(
    plan: ExportPlan,
    model_dir: str,
    limits: WatchLimits,
    on_export: Callable[[str], None],
) -> WatchSummary:
    """Exports each new checkpoint of ``model_dir`` with ``plan`` until a limit or a signal.

    ``on_export`` gets each export's directory as soon as it is published. Must run in
    the main thread (it installs SIGINT / SIGTERM handlers, restored when it returns).

    Raises:
      Exception: an export failed for another reason than its checkpoint being deleted.
    """
    summary = WatchSummary()
    stop = _SignalStop()
    with _signals_stop(stop):
        try:
            summary.ended_by = _watch(plan, model_dir, limits, on_export, stop, summary)
        except WatchStopped as stopped:
            summary.ended_by = str(stopped)
    logger.info(
        "Watch of %s ended (%s): %d exported, %d skipped",
        model_dir,
        summary.ended_by,
        len(summary.exported),
        len(summary.skipped),
    )
    return summary


def _watch(
    plan: ExportPlan,
    model_dir: str,
    limits: WatchLimits,
    on_export: Callable[[str], None],
    stop: _SignalStop,
    summary: WatchSummary,
) -> str:
    """The polling loop; returns why it ended (a limit), or raises WatchStopped."""
    seen = set(listed_checkpoints(model_dir)[:-1])  # start with the newest one already there
    last_new = time.monotonic()
    logger.info("Watching %s for new checkpoints (every %gs)", model_dir, limits.poll_interval)
    while True:
        for checkpoint in listed_checkpoints(model_dir):
            if checkpoint in seen:
                continue
            seen.add(checkpoint)
            last_new = time.monotonic()
            export_dir = _export_one(plan, checkpoint)
            if export_dir is None:
                summary.skipped.append(checkpoint)
                continue
            summary.exported.append(export_dir)
            with stop.deferred():  # an old export is deleted whole, or not at all
                on_export(export_dir)
                if limits.exports_to_keep is not None:
                    delete_old_exports(plan.export_dir_base, limits.exports_to_keep, export_dir)
            if limits.max_exports is not None and len(summary.exported) >= limits.max_exports:
                return f"{len(summary.exported)} exports, --max-exports"
        idle = time.monotonic() - last_new
        if limits.idle_timeout is not None and idle >= limits.idle_timeout:
            return f"no new checkpoint for {limits.idle_timeout:g}s, --idle-timeout"
        time.sleep(limits.poll_interval)


def _export_one(plan: ExportPlan, checkpoint: str) -> str | None:
    """The export of ``checkpoint``, or None when it was deleted before it could be written."""
    if not checkpoint_present(checkpoint):
        logger.warning(
            "Skipped checkpoint %s: it was deleted before it could be exported", checkpoint
        )
        return None
    try:
        return str(plan.export(checkpoint))
    except Exception as error:
        if checkpoint_present(checkpoint):
            raise
        logger.warning(
            "Skipped checkpoint %s: it was deleted while it was exported (%s: %s); nothing "
            "of that export was left behind",
            checkpoint,
            type(error).__name__,
            " ".join(str(error).split())[:300],
        )
        return None
