"""Stuck stores, on s3:// and gs:// alike, with the client settings left to estimator_ext.

* One call stuck for good fails within 2 minutes (docs/reliability.md): a proxy stalls
  every connection at its first byte and never recovers, so the export's first store
  call is stuck for good. It must raise an error that names the store, gives the store's
  message, the retries estimator_ext made and the client settings in force, and leave
  nothing in the bucket.
* A response that trickles past every client timeout is abandoned by estimator_ext's
  watchdog at the configured bound (``ESTIMATOR_EXT_STORE_CALL_SECONDS``).
* A store that stops answering MID-export (it answered the first part of the export,
  then every connection, new or live, is accepted and never answered) bounds the whole
  export, not only each call: it fails within 3 minutes (its first stuck call ends when
  the store leaves the watchdog's probe unanswered, about 30 s in, then 30 s for
  everything after: ``watchdog.one_export``), and what it could not remove is removed by
  ``clean_stale_temporaries`` once the store answers again: no partial version, no
  leftover.

The fault suite (test_store_faults.py) sets short client timeouts of its own instead.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.support import store_checks
from tests.support.faultproxy import FaultProxy
from tests.support.stores import StoreServer

#: The bound docs/reliability.md gives for one stuck call with the default settings.
STUCK_CALL_BOUND_SECONDS = 120.0
#: ... and for a whole export against a store that stops answering mid-export.
STOPPED_STORE_BOUND_SECONDS = 180.0
#: The client settings in force that the error names, so the user knows what to change.
SETTINGS_NAMED = {
    "s3": ("S3_CONNECT_TIMEOUT_MSEC=5000", "S3_REQUEST_TIMEOUT_MSEC=10000"),
    "gs": ("GCS_REQUEST_IDLE_TIMEOUT_SECS=10", "GCS_RETRY_CONFIG_MAX_RETRIES=2"),
}


@pytest.fixture
def _deadline():  # overrides the suite's 240 s per-test deadline: two exports + a 3 min bound
    import faulthandler

    faulthandler.dump_traceback_later(420, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _export_behind(
    store: StoreServer,
    kind: str,
    model_dir: str,
    seed: int,
    tmp_path: Any,
    prefix: str,
    env_extra: dict[str, str],
) -> tuple[dict[str, Any], int, list[str]]:
    """One export to ``<root>/<prefix>/exports`` through a proxy that gives every
    connection the fault ``kind`` from its first byte, for longer than the test runs, with
    every client setting left to estimator_ext. Returns the export's outcome, how many
    connections got the fault, and what the bucket holds under ``prefix``."""
    with (
        FaultProxy(
            store.upstream_port,
            seed=seed,
            fault_rate=1.0,
            kinds=(kind,),
            trigger_bytes=1,
            stall_seconds=600.0,
            lifetime=280.0,
            error_style=store.name,
        ) as proxy,
        store.through(proxy.port) as env,
    ):
        child_env = store_checks.fault_env(store.name, env, env_extra, user=False)
        child = store_checks.StoreChild(
            store.name, model_dir, child_env, str(tmp_path / "child.log")
        )
        try:
            outcome = child.call(
                {"op": "export", "base": f"{store.root}/{prefix}/exports"}, timeout=240
            )
        finally:
            child.close()
        return outcome, proxy.counts().get(kind, 0), store.keys(f"{prefix}/")


def test_a_call_stuck_for_good_fails_within_two_minutes_with_the_default_settings(
    object_store_server, model_dir, reliability_seed, tmp_path
):
    store: StoreServer = object_store_server
    outcome, stalled, keys = _export_behind(
        store, "stall", model_dir, reliability_seed, tmp_path, "stuck", {}
    )
    figures = {"store": store.name, "seconds": round(outcome["seconds"], 1), "stalled": stalled}
    store_checks.record_figures(f"{store.name}_stuck_call", figures)
    assert not outcome["ok"], outcome
    assert outcome["seconds"] <= STUCK_CALL_BOUND_SECONDS, outcome
    assert stalled >= 1, outcome
    error = outcome["error"]
    assert "the object store failed" in error and store.root in error, error
    assert "during reaching the store" in error and "retried this operation" in error, error
    for setting in SETTINGS_NAMED[store.name]:
        assert setting in error, error  # the settings in force, so the user knows what to change
    assert keys == [], keys


#: The bound the trickle test sets for one store call (ESTIMATOR_EXT_STORE_CALL_SECONDS).
TRICKLE_CALL_SECONDS = 5.0


def test_a_call_that_trickles_is_abandoned_at_the_configured_bound(
    object_store_server, model_dir, reliability_seed, tmp_path
):
    """A response that trickles a byte every half second never trips curl's low-speed
    limit, so no client setting bounds the call (on gs://, TensorFlow's metadata timeout
    would, after 30 s). estimator_ext's watchdog abandons each attempt after
    ESTIMATOR_EXT_STORE_CALL_SECONDS (here 5 s; 120 s by default) and the export fails
    after its retries with an error that says so and names the variable, leaving nothing
    in the bucket."""
    store: StoreServer = object_store_server
    outcome, trickled, keys = _export_behind(
        store,
        "trickle",
        model_dir,
        reliability_seed,
        tmp_path,
        "trickle",
        {"ESTIMATOR_EXT_STORE_CALL_SECONDS": f"{TRICKLE_CALL_SECONDS:g}"},
    )
    figures = {"store": store.name, "seconds": round(outcome["seconds"], 1), "trickled": trickled}
    store_checks.record_figures(f"{store.name}_trickled_call", figures)
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


def test_a_store_that_stops_answering_mid_export_fails_it_within_three_minutes(
    object_store_server, model_dir, checkpoint_prefix, reliability_seed, tmp_path
):
    """A healthy export through the proxy measures one export (its time, the connections
    it opens); the store then stops answering halfway through the next one. With every
    client setting left to estimator_ext, that export fails cleanly within 3 minutes,
    publishes nothing, and what it leaves is removed by clean_stale_temporaries once the
    store answers again (the cleaner reaches it without the proxy)."""
    store: StoreServer = object_store_server
    with (
        FaultProxy(
            store.upstream_port,
            seed=reliability_seed,
            lifetime=400.0,
            error_style=store.name,
        ) as proxy,
        store.through(proxy.port) as env,
    ):
        child_env = store_checks.fault_env(store.name, env, user=False)
        child = store_checks.StoreChild(
            store.name, model_dir, child_env, str(tmp_path / "child.log")
        )
        try:
            healthy = child.call({"op": "export", "base": f"{store.root}/healthy/exports"})
            assert healthy["ok"], healthy
            per_export = proxy.counts()["connections"]
            # halfway through the next export by the healthy one's time, or once it opened
            # half as many connections, whichever comes first
            proxy.stop_answering_after(per_export + max(1, per_export // 2))
            timer = threading.Timer(healthy["seconds"] / 2, proxy.stop_answering)
            timer.start()
            outcome = child.call(
                {"op": "export", "base": f"{store.root}/stopped/exports"},
                timeout=STOPPED_STORE_BOUND_SECONDS + 60,
            )
            timer.cancel()
        finally:
            child.close()
        unanswered = proxy.counts().get("unanswered", 0)
    left_before_cleanup = store_checks.leftovers(store, "stopped/exports")
    partial_before_cleanup = store_checks.partial_versions(store, "stopped/exports")
    cleaner_env = store_checks.fault_env(store.name, store.env)
    cleaner = store_checks.StoreChild(store.name, model_dir, cleaner_env, str(tmp_path / "c.log"))
    try:
        removed = cleaner.call(
            {"op": "clean", "bases": [f"{store.root}/stopped/exports"], "older_than": 0},
            timeout=120,
        )["removed"]
    finally:
        cleaner.close()
    figures = {
        "store": store.name,
        "connections_per_healthy_export": per_export,
        "unanswered_connections": unanswered,
        "seconds_to_fail": round(outcome["seconds"], 1),
        "error_type": outcome.get("error_type"),
        "leftovers_before_cleanup": len(left_before_cleanup),
        "partial_versions_before_cleanup": len(partial_before_cleanup),
        "removed_by_cleanup": len(removed),
    }
    store_checks.record_figures(f"{store.name}_stopped_store", figures)
    assert not outcome["ok"], outcome
    assert unanswered >= 1, figures  # the store really stopped answering during the export
    assert outcome["seconds"] <= STOPPED_STORE_BOUND_SECONDS, figures
    error = outcome["error"]
    assert "object store" in error and store.root in error, error
    if outcome["error_type"] == "PartialExportLeft":  # the stop caught the copy-publish
        assert "did not answer while the partial directory was being removed" in error, error
        assert "clean_stale_temporaries(base)" in error and "claim file" in error, error
    assert store_checks.partial_versions(store, "stopped/exports") == [], figures
    assert store_checks.leftovers(store, "stopped/exports") == [], figures
    assert [key for key in store.keys("stopped/") if not key.endswith("/")] == [], figures
