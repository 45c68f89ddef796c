"""One stuck call fails within 2 minutes with the default settings, and within the
configured bound when it trickles past every client timeout.

The fault suite (test_s3_faults.py) sets short timeouts of its own, to check that a
user's values are kept and to fit its time budget. This test leaves every S3 timeout and
retry setting to estimator_ext (``_s3.S3_ENV_DEFAULTS``) and puts the export behind a
proxy that stalls every connection at its first byte and never recovers: the export's
first store call is stuck for good. It must raise, within the 2 minutes the docs promise
(docs/reliability.md), an error that names the store, gives the store's message and the
retries estimator_ext made, and leave nothing in the bucket.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import s3_checks
from tests.support.faultproxy import FaultProxy
from tests.support.s3server import (
    BUCKET,
    S3_MISSING,
    S3_SKIP_REASON,
    bucket_keys,
    moto_server,
    s3_env,
)

pytestmark = pytest.mark.skipif(bool(S3_MISSING), reason=S3_SKIP_REASON)

#: The bound docs/reliability.md gives for one stuck call with the default settings.
STUCK_CALL_BOUND_SECONDS = 120.0
SETTINGS = (
    "S3_CONNECT_TIMEOUT_MSEC",
    "S3_REQUEST_TIMEOUT_MSEC",
    "AWS_RETRY_MODE",
    "AWS_MAX_ATTEMPTS",
)


@pytest.fixture
def _deadline():  # overrides the suite's 240 s per-test deadline: child start + 2 min bound
    import faulthandler

    faulthandler.dump_traceback_later(300, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _export_behind(
    kind: str, model_dir: str, seed: int, tmp_path: Any, prefix: str, env_extra: dict[str, str]
) -> tuple[dict[str, Any], int, list[str]]:
    """One export to ``s3://BUCKET/<prefix>/exports`` through a proxy that gives every
    connection the fault ``kind`` from its first byte, for longer than the test runs, with
    every S3 client setting left to estimator_ext. Returns the export's outcome, how many
    connections got the fault, and what the bucket holds under ``prefix``."""
    with (
        moto_server(str(tmp_path / "moto.log")) as moto,
        FaultProxy(
            moto["port"],
            seed=seed,
            fault_rate=1.0,
            kinds=(kind,),
            trigger_bytes=1,
            stall_seconds=600.0,
            lifetime=280.0,
        ) as proxy,
    ):
        env = s3_env(proxy.endpoint, env_extra)
        for name in SETTINGS:
            env.pop(name, None)  # estimator_ext's defaults, not the test's
        child = s3_checks.S3Child(model_dir, env, str(tmp_path / "child.log"))
        try:
            base = f"s3://{BUCKET}/{prefix}/exports"
            outcome = child.call({"op": "export", "base": base}, timeout=240)
        finally:
            child.close()
        return outcome, proxy.counts().get(kind, 0), bucket_keys(moto["client"], f"{prefix}/")


def test_a_call_stuck_for_good_fails_within_two_minutes_with_the_default_settings(
    model_dir, reliability_seed, tmp_path
):
    outcome, stalled, keys = _export_behind(
        "stall", model_dir, reliability_seed, tmp_path, "stuck", {}
    )
    print("S3 STUCK CALL", {"seconds": round(outcome["seconds"], 1), "stalled": stalled})
    assert not outcome["ok"], outcome
    assert outcome["seconds"] <= STUCK_CALL_BOUND_SECONDS, outcome
    assert stalled >= 1, outcome
    error = outcome["error"]
    assert "the object store failed" in error and f"s3://{BUCKET}" in error, error
    assert "during reaching the store" in error and "retried this operation" in error, error
    for name in ("S3_CONNECT_TIMEOUT_MSEC=5000", "S3_REQUEST_TIMEOUT_MSEC=10000"):
        assert name in error, error  # the settings in force, so the user knows what to change
    assert keys == [], keys


#: The bound the trickle test sets for one store call (ESTIMATOR_EXT_STORE_CALL_SECONDS).
TRICKLE_CALL_SECONDS = 10.0


def test_a_call_that_trickles_is_abandoned_at_the_configured_bound(
    model_dir, reliability_seed, tmp_path
):
    """A response that trickles a byte every half second never trips curl's low-speed
    limit, so no S3 client setting bounds the call. estimator_ext's watchdog abandons each
    attempt after ESTIMATOR_EXT_STORE_CALL_SECONDS (here 10 s; 120 s by default) and the
    export fails after its retries with an error that says so and names the variable,
    leaving nothing in the bucket."""
    outcome, trickled, keys = _export_behind(
        "trickle",
        model_dir,
        reliability_seed,
        tmp_path,
        "trickle",
        {"ESTIMATOR_EXT_STORE_CALL_SECONDS": f"{TRICKLE_CALL_SECONDS:g}"},
    )
    print("S3 TRICKLED CALL", {"seconds": round(outcome["seconds"], 1), "trickled": trickled})
    assert not outcome["ok"], outcome
    assert outcome["error_type"] == "StoreCallAbandoned", outcome
    # three attempts (estimator_ext retries twice), each abandoned at the bound
    assert 3 * TRICKLE_CALL_SECONDS <= outcome["seconds"] <= 3 * TRICKLE_CALL_SECONDS + 30, outcome
    assert trickled >= 1, outcome
    error = outcome["error"]
    assert "the object store failed" in error and "during reaching the store" in error, error
    assert "did not return from reaching the store" in error and "abandoned" in error, error
    assert "ESTIMATOR_EXT_STORE_CALL_SECONDS" in error and "retried this operation 2" in error
    assert keys == [], keys
