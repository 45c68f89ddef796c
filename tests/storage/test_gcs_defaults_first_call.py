"""The GCS client defaults are what TensorFlow reads, and in force at the first gs:// call.

TensorFlow 2.15 reads its ``GCS_*`` settings when ``import tensorflow`` registers its GCS
filesystem, not at the first ``gs://`` call (``estimator_ext/storage/gcs.py``). Each case
runs a fresh process (``tests/support/first_gs_call_child.py``) against fake-gcs-server
behind the loopback TLS proxy: it records the environment at ``import tensorflow``, makes
its first ``gs://`` call through estimator_ext, then shows with TensorFlow's own client
whether the stat-cache default (``GCS_STAT_CACHE_MAX_AGE=0``) is in force: a folder just
removed must not still "exist". Nothing of TensorFlow or the store is faked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from estimator_ext.storage.gcs import GCS_ENV_DEFAULTS
from tests.support.gcs_server import BUCKET, GCS_MISSING, GCS_SKIP_REASON, gcs_stack

pytestmark = pytest.mark.skipif(bool(GCS_MISSING), reason=GCS_SKIP_REASON)

CHILD = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support", "first_gs_call_child.py"
)


@pytest.fixture(scope="module")
def gcs(tmp_path_factory):
    with gcs_stack(str(tmp_path_factory.mktemp("gcs")), lifetime=300) as stack:
        yield stack


def first_gs_call(gcs, order: str, case: str, user: dict | None = None) -> dict:
    child = subprocess.run(
        [sys.executable, CHILD, order, f"gs://{BUCKET}/first-call/{case}/exports"],
        # no GCS_* variable but the user's (gcs_env drops the rest)
        env=gcs["env"]({"RECORD_VARIABLES": ",".join(GCS_ENV_DEFAULTS), **(user or {})}),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert child.returncode == 0, f"the child failed:\n{child.stderr[-4000:]}"
    return json.loads(child.stdout.strip().splitlines()[-1])


def test_importing_estimator_ext_first_puts_the_defaults_in_force(gcs):
    report = first_gs_call(gcs, "estimator-ext-first", "ours-first")
    assert report["environ"] == GCS_ENV_DEFAULTS, report
    assert report["stale_exists"] is False, report  # the stat cache is off
    assert report["warnings"] == [] and report["cleaned"] == [], report


def test_tensorflow_imported_first_keeps_its_own_values_and_the_first_call_warns(gcs):
    report = first_gs_call(gcs, "tensorflow-first", "tf-first")
    assert report["environ"] == {name: None for name in GCS_ENV_DEFAULTS}, report
    assert report["stale_exists"] is True, report  # TensorFlow's 5 s stat cache
    (warning,) = report["warnings"]
    assert "TensorFlow was imported before estimator_ext" in warning
    assert all(name in warning for name in GCS_ENV_DEFAULTS), warning
    assert "before TensorFlow is imported, or import estimator_ext first" in warning


def test_a_value_the_user_set_is_kept(gcs):
    report = first_gs_call(gcs, "estimator-ext-first", "user", user={"GCS_STAT_CACHE_MAX_AGE": "5"})
    assert report["environ"] == {**GCS_ENV_DEFAULTS, "GCS_STAT_CACHE_MAX_AGE": "5"}, report
    assert report["stale_exists"] is True, report  # the user's cache, as they asked
    assert report["warnings"] == [], report
