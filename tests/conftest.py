"""Shared fixtures for the test suite."""

from __future__ import annotations

from typing import Iterator

import pytest

from estimator_ext import patching


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "patches: the test patches estimator_ext on purpose and may end patched; "
        "never_leave_patched unpatches after it instead of failing it",
    )


@pytest.fixture(autouse=True)
def never_leave_patched(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts unpatched and leaves estimator_ext unpatched (TF-free, so for all).

    A test that ends patched fails (e.g. the CLI's ``run`` must restore the patch), unless
    it is marked ``@pytest.mark.patches`` (a module can set ``pytestmark``): such tests call
    ``estimator_ext.patch()`` themselves, and this fixture unpatches after them. Either way
    the next test starts clean.
    """
    if patching.is_patched():
        restored = patching.unpatch()
        pytest.fail(
            f"estimator_ext was already patched when {request.node.nodeid} started ("
            f"{len(restored)} changes, left by a fixture?); unpatched it."
        )
    yield
    if patching.is_patched():
        patching.unpatch()
        if request.node.get_closest_marker("patches") is None:
            pytest.fail(
                f"{request.node.nodeid} left estimator_ext patched (unpatched it now). Use "
                "`with estimator_ext.patched():`, or mark a test that patches on purpose "
                "with @pytest.mark.patches."
            )
