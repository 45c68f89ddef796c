"""The S3 client defaults are in the environment when estimator_ext makes its FIRST s3:// call.

tensorflow-io's S3 client reads its settings once per process, at the first ``s3://``
access (``estimator_ext/storage/s3.py``), so a default set after that call is too late,
even though ``os.environ`` shows it afterwards. Each case runs in a fresh process
(``tests/support/first_s3_call_child.py``) whose first ``s3://`` access is one estimator_ext call,
against a real ``moto_server``; the child records ``os.environ`` at the moment of the
first ``tf.io.gfile`` call given an ``s3://`` path (a recording pass-through installed
before estimator_ext is imported; nothing of TensorFlow or the store is faked).

Cases from issue #20: ``clean_stale_temporaries`` with a ``str`` and with a ``bytes``
base, and an export with a ``bytes`` ``export_dir_base``; and a value the user set is
kept, never overridden.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from estimator_ext.storage.s3 import S3_ENV_DEFAULTS
from tests.support import data
from tests.support.s3server import BUCKET, S3_MISSING, S3_SKIP_REASON, moto_server, s3_env

pytestmark = pytest.mark.skipif(bool(S3_MISSING), reason=S3_SKIP_REASON)

CHILD = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support", "first_s3_call_child.py"
)


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    with moto_server(str(tmp_path_factory.mktemp("moto") / "moto.log")) as server:
        yield server


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    directory = str(tmp_path_factory.mktemp("model"))
    data.train_adam_estimator(directory)
    return directory


def first_s3_call(moto, scenario: str, base: str, *extra: str, user: dict | None = None) -> dict:
    """Runs the child; returns its report (the first s3:// call and the environment then)."""
    env = s3_env(moto["endpoint"], {"RECORD_VARIABLES": ",".join(S3_ENV_DEFAULTS)})
    for name in list(S3_ENV_DEFAULTS) + ["ESTIMATOR_EXT_STORE_CALL_SECONDS"]:
        env.pop(name, None)  # left to estimator_ext, unless the case sets it as the user
    env.update(user or {})
    child = subprocess.run(
        [sys.executable, CHILD, scenario, base, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, f"the child failed:\n{child.stderr[-4000:]}"
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["first"], f"the child made no s3:// call:\n{child.stderr[-2000:]}"
    return report


@pytest.mark.parametrize("scenario", ["clean-str", "clean-bytes"])
def test_clean_stale_temporaries_first_call_has_the_defaults(moto, scenario):
    base = f"s3://{BUCKET}/first-call/{scenario}/exports"
    moto["client"].put_object(Bucket=BUCKET, Key=f"first-call/{scenario}/exports/1/x", Body=b"x")
    report = first_s3_call(moto, scenario, base)
    assert report["first"]["environ"] == S3_ENV_DEFAULTS, report["first"]
    assert report["result"] == []


def test_export_with_a_bytes_base_first_call_has_the_defaults(moto, model_dir):
    base = f"s3://{BUCKET}/first-call/export-bytes/exports"
    report = first_s3_call(moto, "export-bytes", base, model_dir)
    assert report["first"]["environ"] == S3_ENV_DEFAULTS, report["first"]
    assert report["result"].startswith(base + "/"), report


def test_a_value_the_user_set_is_kept_at_the_first_call(moto):
    base = f"s3://{BUCKET}/first-call/user/exports"
    report = first_s3_call(moto, "clean-bytes", base, user={"S3_REQUEST_TIMEOUT_MSEC": "60000"})
    assert report["first"]["environ"] == {**S3_ENV_DEFAULTS, "S3_REQUEST_TIMEOUT_MSEC": "60000"}
