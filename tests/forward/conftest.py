"""Registers the ``forward`` marker of tests/forward/ (``make test`` and the nox sessions
leave it out with ``-m "... and not forward"``; ``make forward`` runs it)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "forward: tests/forward/, a TF 2.15 export read on the newest TensorFlow "
        "(make forward; needs ESTIMATOR_EXT_FORWARD_PYTHON)",
    )
