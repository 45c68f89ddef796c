"""An undo log of attribute and mapping changes, scoped to one instance (no TensorFlow).

:class:`Recorder` is the bookkeeping behind ``patch()`` / ``unpatch()``, shaped like pytest's
``MonkeyPatch``: every change goes through it, it is recorded only once it has succeeded
(a ``setattr`` that raises leaves nothing to undo), and :meth:`Recorder.undo` reverts the
changes in reverse order, restoring exactly what was there before, including "there was no
such attribute (or key) at all", which is undone by deleting again. All state lives on the
instance; two recorders never see each other's changes. It is not thread-safe by itself:
its owner serialises calls (``patching`` holds a lock around it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import MutableMapping
from typing import Any


class _Missing:
    """The marker for "there was nothing there"."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


def current_value(target: Any, name: str) -> Any:
    """What ``target.name`` holds itself, or :data:`MISSING`.

    For a class this is its own ``__dict__`` entry, not an inherited attribute: restoring an
    inherited value onto a subclass would shadow later changes to the base (pytest does the
    same).
    """
    if isinstance(target, type):
        return target.__dict__.get(name, MISSING)
    return getattr(target, name, MISSING)


@dataclasses.dataclass(frozen=True)
class Change:
    """One change made through a :class:`Recorder`, and what was there before it."""

    label: str
    target: Any
    name: str
    previous: Any
    in_mapping: bool = False

    def undo(self) -> None:
        """Puts back ``previous``, or removes the attribute/key when there was none."""
        if self.in_mapping:
            if self.previous is MISSING:
                self.target.pop(self.name, None)
            else:
                self.target[self.name] = self.previous
        elif self.previous is MISSING:
            if current_value(self.target, self.name) is not MISSING:
                delattr(self.target, self.name)
        else:
            setattr(self.target, self.name, self.previous)


class Recorder:
    """Makes attribute and mapping changes and remembers how to undo each one.

    ::

        recorder = Recorder()
        recorder.setattr("math.tau", math, "tau", 6.0)
        recorder.setitem("os.environ['X']", os.environ, "X", "1")
        recorder.undo()  # -> ("math.tau", "os.environ['X']"); both as they were

    ``label`` is a human-readable name for the change, returned by :attr:`labels` and
    :meth:`undo`.
    """

    def __init__(self) -> None:
        self._changes: list[Change] = []

    def setattr(self, label: str, target: Any, name: str, value: Any) -> None:
        """``setattr(target, name, value)``, recorded after it succeeded."""
        previous = current_value(target, name)
        setattr(target, name, value)
        self._changes.append(Change(label, target, name, previous))

    def setitem(self, label: str, mapping: MutableMapping[Any, Any], key: Any, value: Any) -> None:
        """``mapping[key] = value``, recorded after it succeeded."""
        previous = mapping.get(key, MISSING)
        mapping[key] = value
        self._changes.append(Change(label, mapping, key, previous, in_mapping=True))

    def delattr(self, label: str, target: Any, name: str, raising: bool = True) -> None:
        """``delattr(target, name)``, recorded after it succeeded; undo puts it back.

        Raises:
          AttributeError: ``target`` has no attribute ``name`` of its own and ``raising``.
        """
        previous = current_value(target, name)
        if previous is MISSING:
            if raising:
                raise AttributeError(
                    f"Recorder.delattr({label!r}): {target!r} has no attribute {name!r} of its "
                    "own to delete. Pass raising=False to accept that it is already absent."
                )
            return
        delattr(target, name)
        self._changes.append(Change(label, target, name, previous))

    def forget(self, target: Any, name: str) -> None:
        """Keeps the changes made to ``target.name``: :meth:`undo` no longer reverts them."""
        self._changes = [
            change
            for change in self._changes
            if not (change.target is target and change.name == name)
        ]

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels of the changes still to undo, in the order they were made."""
        return tuple(change.label for change in self._changes)

    def undo(self) -> tuple[str, ...]:
        """Reverts every recorded change, newest first, and empties the log.

        A change whose undo raises stays recorded (with the older ones), so a second
        ``undo()`` can finish the job.

        Returns:
          The labels undone, in the order the changes had been made.
        """
        undone: list[str] = []
        while self._changes:
            change = self._changes[-1]
            change.undo()
            self._changes.pop()
            undone.append(change.label)
        return tuple(reversed(undone))

    def __len__(self) -> int:
        return len(self._changes)
