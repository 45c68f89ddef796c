"""Directories the reliability tests set up: a private copy of a checkpoint, and a directory
that refuses new entries (also for root)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest


def copy_model_dir(model_dir: str, destination: str) -> str:
    """A private copy of the trained checkpoint, for tests that delete parts of it."""
    shutil.copytree(model_dir, destination)
    return destination


@contextlib.contextmanager
def read_only_directory(path: str) -> Iterator[str]:
    """Makes ``path`` refuse new entries, also for root (who ignores ``chmod``): as root
    with ``chattr +i`` (immutable), otherwise with ``chmod 0555``. Yields the method;
    skips the test, saying why, when neither works here."""
    if os.geteuid() != 0:
        mode = os.stat(path).st_mode
        os.chmod(path, 0o555)
        try:
            _assert_refuses_entries(path, "chmod 0555")
            yield "chmod 0555"
        finally:
            os.chmod(path, mode)
        return
    if shutil.which("chattr") is None:
        pytest.skip(
            "running as root, where chmod does not stop writes, and chattr is not installed"
        )
    made = subprocess.run(["chattr", "+i", path], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"running as root and `chattr +i` is not supported here: {made.stderr.strip()}")
    try:
        _assert_refuses_entries(path, "chattr +i")
        yield "chattr +i"
    finally:
        subprocess.run(["chattr", "-i", path], check=True)


def _assert_refuses_entries(path: str, method: str) -> None:
    probe = os.path.join(path, ".write-probe")
    try:
        os.mkdir(probe)
    except OSError:
        return
    os.rmdir(probe)
    pytest.skip(f"{method} did not make {path} read-only on this filesystem")
