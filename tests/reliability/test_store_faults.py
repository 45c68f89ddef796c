"""Exports to s3:// and gs:// through a fault-injecting proxy: complete or raise, never hang,
no partial version, nothing left after cleanup. One test body serves both stores.

Topology: store child processes (``store_child.py``) -> one ``FaultProxy`` each on
127.0.0.1 -> the store's server on 127.0.0.1 (``moto_server``; for ``gs://`` the TLS proxy
comes first, then the fault proxy, then fake-gcs-server: ``stores.StoreServer.through``).
``EXPORTS`` three-mode exports per store, each into its own base, run in ``LANES`` lanes at
once (a lane is one child behind its own proxy, exporting one after another), so that
the schedule fits the suite's budget: a faulted export mostly waits on timeouts and
retries, not on the CPU. Export ``i`` runs with ``RATES[i % 6]`` (0 to 50 %) of its
lane's connections faulted (resets mid-body, stalls, 500 and 503 answers in the store's
own style, and on ``gs://`` also 429, GCS's rate limit), and one export in
``OUTAGE_EVERY`` meets an outage (every connection refused for 20 s, longer than one
call's bound) starting at a seeded moment inside it. After every export the bucket is
read directly (never through a proxy): no export may leave an integer-named directory
without ``saved_model.pb``; at the end every returned export must be complete (every meta
graph loads, the variables equal the checkpoint's), and ``clean_stale_temporaries``
(from a fresh process) leaves no temporary or claim.

The schedule (issue 21): 60 exports on s3:// alone took 5.5 min; 18 per store in 9 lanes
took 115-121 s on s3:// and 143-147 s on gs:// in make test, too long for the 12 minutes
all the store tests may take. Now 12 per store in 6 lanes of two exports, every rate
twice and two outages per store, each lane pairing rates that sum to 50 % (lane_exports).
12 exports in 12 lanes (one per lane) was no faster in make test (152 s and 118 s):
twelve children starting at once contend for the 2 cores with the suite's other worker.
``ESTIMATOR_EXT_STORE_FAULT_EXPORTS=N`` runs another number per store.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from typing import Any

import pytest

from tests.support import store_checks
from tests.support.faultproxy import FAULT_KINDS, FaultProxy
from tests.support.stores import StoreServer

EXPORTS = int(os.environ.get("ESTIMATOR_EXT_STORE_FAULT_EXPORTS", "12"))
#: Children exporting at once (each about 0.4 GB of memory, mostly idle on timeouts), two
#: exports each.
LANES = max(1, (EXPORTS + 1) // 2)
RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
#: The faults per store: GCS also answers 429 when a client exceeds its rate limit.
KINDS = {"s3": FAULT_KINDS, "gs": (*FAULT_KINDS, "429")}
#: Exports 3, 10, 17, ... meet an outage: one in seven, so at every rate in turn.
OUTAGE_EVERY = 7
OUTAGE_AT = 3
OUTAGE_SECONDS = 20.0
#: One stuck call is abandoned after this long (ESTIMATOR_EXT_STORE_CALL_SECONDS, set by
#: the test: a multipart upload can block for good inside tensorflow-io's client).
CALL_SECONDS = 45.0
#: A whole export makes dozens of store calls, each bounded (short client timeouts, the
#: client's retries, estimator_ext's retries, the watchdog above), and once the store
#: stopped answering the rest of the export gets 30 s in all (watchdog.one_export).
MAX_SECONDS_PER_EXPORT = 180.0
#: The whole test's bound (faulthandler ends a hung run with every thread's stack).
TEST_SECONDS = 900.0


@pytest.fixture
def _deadline():  # overrides the suite's 240 s per-test deadline: this test runs many exports
    import faulthandler

    faulthandler.dump_traceback_later(TEST_SECONDS, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def lane_exports(lane: int) -> list[int]:
    """The exports of one lane: ``lane`` and ``EXPORTS - 1 - lane``, whose fault rates sum
    to 50 % (0 and 50, 10 and 40, 20 and 30 %), so that every lane takes about as long.
    Pairing ``lane`` with ``lane + LANES`` gave one lane both 50 % exports, and the
    schedule took as long as that lane (192 s on gs://, against 128 s on s3://)."""
    partner = EXPORTS - 1 - lane
    return [lane] if partner == lane else [lane, partner]


def _run_lane(
    lane: int,
    store: StoreServer,
    model_dir: str,
    seed: int,
    log_dir: str,
    outcomes: list[dict[str, Any]],
    counts: list[dict[str, int]],
) -> None:
    """Exports :func:`lane_exports` one after another through a proxy of its own."""
    rng = random.Random(seed * 1000 + lane)
    with (
        FaultProxy(
            store.upstream_port,
            seed=seed * 1000 + lane,
            kinds=KINDS[store.name],
            stall_seconds=5.0,
            lifetime=TEST_SECONDS,
            error_style=store.name,
        ) as proxy,
        store.through(proxy.port) as env,
    ):
        child_env = store_checks.fault_env(
            store.name, env, {"ESTIMATOR_EXT_STORE_CALL_SECONDS": f"{CALL_SECONDS:g}"}
        )
        child = store_checks.StoreChild(
            store.name, model_dir, child_env, os.path.join(log_dir, f"lane{lane}.log")
        )
        try:
            for index in lane_exports(lane):
                rate = RATES[index % len(RATES)]
                proxy.set_fault_rate(rate)
                timer = None
                if index % OUTAGE_EVERY == OUTAGE_AT:
                    timer = threading.Timer(rng.uniform(0.2, 3.0), proxy.outage, [OUTAGE_SECONDS])
                    timer.start()
                before = proxy.total_injected
                outcome = child.call(
                    {"op": "export", "base": f"{store.root}/faults/{index}/exports"},
                    timeout=MAX_SECONDS_PER_EXPORT + 60,
                )
                if timer is not None:
                    timer.join()
                    while proxy.in_outage():  # the next export starts on a healthy store
                        time.sleep(0.2)
                outcome.update(
                    index=index,
                    lane=lane,
                    rate=rate,
                    outage=timer is not None,
                    injected=proxy.total_injected - before,
                    partial=store_checks.partial_versions(store, f"faults/{index}/exports"),
                )
                outcomes.append(outcome)
        finally:
            child.close()
            counts.append(proxy.counts())


def _exports_with_an_abandoned_call(log_dir: str) -> int:
    """How many exports had a store call abandoned by the watchdog (retried or not), from
    the warnings the lanes' children logged."""
    bases = set()
    for lane in range(LANES):
        with open(os.path.join(log_dir, f"lane{lane}.log")) as log:
            bases.update(
                re.findall(r"(faults/\d+/)\S*' within \d+ s and was abandoned", log.read())
            )
    return len(bases)


def test_faulted_exports_complete_or_raise_and_leave_no_partial_version(
    object_store_server, model_dir, checkpoint_prefix, reliability_seed, tmp_path
):
    store: StoreServer = object_store_server
    outcomes: list[dict[str, Any]] = []
    lane_counts: list[dict[str, int]] = []
    lane_errors: list[BaseException] = []
    started = time.monotonic()

    def lane_main(lane: int) -> None:
        try:
            _run_lane(
                lane, store, model_dir, reliability_seed, str(tmp_path), outcomes, lane_counts
            )
        except BaseException as error:  # re-raised in the test's thread below
            lane_errors.append(error)

    lanes = [
        threading.Thread(target=lane_main, args=(lane,), name=f"lane{lane}")
        for lane in range(LANES)
    ]
    for thread in lanes:
        thread.start()
    for thread in lanes:
        thread.join(TEST_SECONDS)
    assert not any(thread.is_alive() for thread in lanes), "a lane did not finish"
    if lane_errors:
        raise lane_errors[0]
    schedule_seconds = time.monotonic() - started
    outcomes.sort(key=lambda outcome: outcome["index"])
    for outcome in outcomes:
        assert outcome["partial"] == [], outcome
        assert outcome["seconds"] < MAX_SECONDS_PER_EXPORT, outcome
        if outcome["ok"]:
            store_checks.check_complete_export(store, outcome["export_dir"], checkpoint_prefix)
        else:
            assert "the object store failed" in outcome["error"], outcome
            assert "retried this operation" in outcome["error"], outcome
            # the user's value kept, and named
            assert store_checks.USER_SETTING_SHOWN[store.name] in outcome["error"], outcome
            assert store.root in outcome["error"], outcome
    counts: dict[str, int] = {}
    for lane_count in lane_counts:
        for kind, number in lane_count.items():
            counts[kind] = counts.get(kind, 0) + number
    prefixes = [f"faults/{i}/exports" for i in range(EXPORTS)]
    left_before_cleanup = sum(len(store_checks.leftovers(store, p)) for p in prefixes)
    # A fresh process cleans up: the exporting children are gone, so their temporaries
    # are stale.
    cleaner = store_checks.StoreChild(
        store.name,
        model_dir,
        store_checks.fault_env(store.name, store.env),
        str(tmp_path / "clean.log"),
    )
    try:
        bases = [f"{store.root}/{p}" for p in prefixes]
        removed = cleaner.call({"op": "clean", "bases": bases, "older_than": 0}, timeout=300)[
            "removed"
        ]
    finally:
        cleaner.close()
    left_after_cleanup = sum(
        len(store_checks.leftovers(store, p)) + len(store_checks.partial_versions(store, p))
        for p in prefixes
    )

    completed = [o for o in outcomes if o["ok"]]
    failed = [o for o in outcomes if not o["ok"]]
    figures = {
        "store": store.name,
        "seed": reliability_seed,
        "exports_attempted": len(outcomes),
        "lanes": LANES,
        "schedule_seconds": round(schedule_seconds, 1),
        "exports_with_an_abandoned_call": _exports_with_an_abandoned_call(str(tmp_path)),
        "failed_after_an_abandoned_call": sum("abandoned" in o.get("error", "") for o in outcomes),
        "completed": len(completed),
        "failed_cleanly": len(failed),
        "faults_injected": {k: v for k, v in counts.items() if k != "connections"},
        "connections": counts["connections"],
        "longest_seconds_to_fail": round(max((o["seconds"] for o in failed), default=0.0), 1),
        "longest_seconds_to_complete": round(
            max((o["seconds"] for o in completed), default=0.0), 1
        ),
        "failed_at_rate": {str(r): sum(1 for o in failed if o["rate"] == r) for r in RATES},
        "partial_versions_left": 0,
        "leftovers_before_cleanup": left_before_cleanup,
        "removed_by_cleanup": len(removed),
        "leftovers_after_cleanup": left_after_cleanup,
        # why each failed export failed: its rate, then the start of its error
        "failures": [
            f"{o['rate']:.0%}{' + outage' if o['outage'] else ''} {o['error_type']}: "
            f"{o['error'][:600]}"
            for o in failed
        ],
    }
    store_checks.record_figures(f"{store.name}_faults", figures)
    assert len(outcomes) == EXPORTS
    injected = sum(v for k, v in counts.items() if k not in ("connections", "refused"))
    assert injected >= 20, figures
    assert counts.get("refused", 0) > 0, figures  # the outages reached the exports
    if store.name == "gs":
        assert counts.get("429", 0) > 0, figures  # GCS's rate limit was met
    assert failed, figures  # some exports failed, cleanly (checked above)
    # Retries absorb the faults of a healthy store: every export at 0 % without an outage
    # completes. At 20-50 % many calls meet three faulted connections in a row, past the
    # client's bounded retries (GCS: 2 by estimator_ext's default), so "a third in all" only
    # says the test is not vacuous (measured with 12 exports: 10 and 11 on s3://, 9 and 10 on gs://).
    assert all(o["ok"] for o in outcomes if o["rate"] == 0.0 and not o["outage"]), figures
    assert len(completed) >= EXPORTS // 3, figures
    assert left_after_cleanup == 0, figures
