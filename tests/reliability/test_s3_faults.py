"""s3:// exports through a fault-injecting proxy: complete or raise, never hang, no partial.

Topology: S3 child processes (tensorflow-io, the AWS SDK inside) -> one ``FaultProxy``
each on 127.0.0.1 -> one ``moto_server`` on 127.0.0.1. ``EXPORTS`` (60) three-mode
exports, each into its own base, run in ``LANES`` lanes at once (a lane is one child
behind its own proxy, exporting one after another), so that the schedule fits the
suite's budget: a faulted export mostly waits on timeouts and retries, not on the CPU.
Export ``i`` runs with ``RATES[i % 6]`` (0 to 50 %) of its lane's connections faulted
(resets mid-body, stalls, 500 InternalError, 503 SlowDown), and one export in
``OUTAGE_EVERY`` meets an outage (every connection refused for 20 s, longer than one call's
bound) starting at a seeded moment inside it. After every export the bucket is read
directly (boto3 to moto): no export may leave an integer-named directory without
``saved_model.pb``; at the end every returned export must be complete (every meta graph
loads, the variables equal the checkpoint's), and ``clean_stale_temporaries`` (from a
fresh process) leaves no temporary or claim.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from typing import Any

import pytest

from tests.support import s3_checks
from tests.support.faultproxy import FaultProxy
from tests.support.s3server import BUCKET, S3_MISSING, S3_SKIP_REASON, moto_server

pytestmark = pytest.mark.skipif(bool(S3_MISSING), reason=S3_SKIP_REASON)

#: The issue's 60; ESTIMATOR_EXT_S3_FAULT_EXPORTS=N runs another number.
EXPORTS = int(os.environ.get("ESTIMATOR_EXT_S3_FAULT_EXPORTS", "60"))
#: Children exporting at once (each about 0.4 GB of memory, mostly idle on timeouts).
LANES = min(10, EXPORTS)
RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
#: Exports 3, 10, 17, ... meet an outage: one in seven, so at every rate in turn.
OUTAGE_EVERY = 7
OUTAGE_AT = 3
OUTAGE_SECONDS = 20.0
#: One stuck call is abandoned after this long (ESTIMATOR_EXT_STORE_CALL_SECONDS, set by
#: the test: a multipart upload can block for good inside tensorflow-io's client).
CALL_SECONDS = 45.0
#: A whole export makes dozens of store calls, each bounded (connect 2 s, request 3 s,
#: 3 attempts, estimator_ext's retries, the watchdog above), plus up to 45 s waiting to
#: remove a partial directory; measured longest failure: 115.5 s on a loaded 2-core
#: machine.
MAX_SECONDS_PER_EXPORT = 180.0
#: The whole test's bound (faulthandler ends a hung run with every thread's stack).
TEST_SECONDS = 1200.0


@pytest.fixture
def _deadline():  # overrides the suite's 240 s per-test deadline: this test runs 60 exports
    import faulthandler

    faulthandler.dump_traceback_later(TEST_SECONDS, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def _run_lane(
    lane: int,
    moto: dict[str, Any],
    model_dir: str,
    seed: int,
    log_dir: str,
    outcomes: list[dict[str, Any]],
    counts: list[dict[str, int]],
) -> None:
    """Exports ``lane``, ``lane + LANES``, ... one after another through a proxy of its own."""
    rng = random.Random(seed * 1000 + lane)
    indices = range(lane, EXPORTS, LANES)
    with FaultProxy(
        moto["port"], seed=seed * 1000 + lane, stall_seconds=5.0, lifetime=TEST_SECONDS
    ) as proxy:
        env = s3_checks.fault_env(
            proxy.endpoint, {"ESTIMATOR_EXT_STORE_CALL_SECONDS": f"{CALL_SECONDS:g}"}
        )
        child = s3_checks.S3Child(model_dir, env, os.path.join(log_dir, f"lane{lane}.log"))
        try:
            for index in indices:
                rate = RATES[index % len(RATES)]
                proxy.set_fault_rate(rate)
                timer = None
                if index % OUTAGE_EVERY == OUTAGE_AT:
                    timer = threading.Timer(rng.uniform(0.2, 3.0), proxy.outage, [OUTAGE_SECONDS])
                    timer.start()
                before = proxy.total_injected
                base = f"s3://{BUCKET}/faults/{index}/exports"
                outcome = child.call(
                    {"op": "export", "base": base}, timeout=MAX_SECONDS_PER_EXPORT + 60
                )
                if timer is not None:
                    timer.join()
                    while proxy.in_outage():  # the next export starts on a healthy store
                        time.sleep(0.2)
                outcome.update(
                    index=index,
                    lane=lane,
                    rate=rate,
                    injected=proxy.total_injected - before,
                    partial=s3_checks.partial_versions(moto["client"], f"faults/{index}/exports"),
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


def test_sixty_faulted_exports_complete_or_raise_and_leave_no_partial_version(
    model_dir, checkpoint_prefix, reliability_seed, tmp_path
):
    outcomes: list[dict[str, Any]] = []
    lane_counts: list[dict[str, int]] = []
    lane_errors: list[BaseException] = []
    started = time.monotonic()
    with moto_server(str(tmp_path / "moto.log")) as moto:

        def lane_main(lane: int) -> None:
            try:
                _run_lane(
                    lane,
                    moto,
                    model_dir,
                    reliability_seed,
                    str(tmp_path),
                    outcomes,
                    lane_counts,
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
                s3_checks.check_complete_export(
                    moto["client"], outcome["export_dir"], checkpoint_prefix
                )
            else:
                assert "the object store failed" in outcome["error"], outcome
                assert "retried this operation" in outcome["error"], outcome
                assert "S3_REQUEST_TIMEOUT_MSEC=3000" in outcome["error"], (
                    outcome
                )  # user's value kept
                assert f"s3://{BUCKET}" in outcome["error"], outcome
        counts: dict[str, int] = {}
        for lane_count in lane_counts:
            for kind, number in lane_count.items():
                counts[kind] = counts.get(kind, 0) + number
        left_before_cleanup = sum(
            len(s3_checks.leftovers(moto["client"], f"faults/{i}/exports")) for i in range(EXPORTS)
        )
        # A fresh process cleans up: the exporting children are gone, so their temporaries
        # are stale.
        cleaner = s3_checks.S3Child(
            model_dir, s3_checks.fault_env(moto["endpoint"]), str(tmp_path / "clean.log")
        )
        try:
            bases = [f"s3://{BUCKET}/faults/{i}/exports" for i in range(EXPORTS)]
            removed = cleaner.call({"op": "clean", "bases": bases, "older_than": 0}, timeout=300)[
                "removed"
            ]
        finally:
            cleaner.close()
        left_after_cleanup = sum(
            len(s3_checks.leftovers(moto["client"], f"faults/{i}/exports"))
            + len(s3_checks.partial_versions(moto["client"], f"faults/{i}/exports"))
            for i in range(EXPORTS)
        )

    completed = [o for o in outcomes if o["ok"]]
    failed = [o for o in outcomes if not o["ok"]]
    figures = {
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
    }
    print("S3 FAULT FIGURES", json.dumps(figures))
    if os.environ.get("ESTIMATOR_EXT_FIGURES"):
        with open(os.environ["ESTIMATOR_EXT_FIGURES"], "a") as handle:
            handle.write(json.dumps({"s3_faults": figures}) + "\n")
    assert len(outcomes) == EXPORTS
    assert sum(v for k, v in counts.items() if k not in ("connections", "refused")) >= 20, figures
    assert counts.get("refused", 0) > 0, figures  # the outages reached the exports
    assert failed, figures  # some exports failed, cleanly (checked above)
    assert len(completed) >= EXPORTS // 2, (
        figures
    )  # the SDK's and estimator_ext's retries absorb most
    assert left_after_cleanup == 0, figures
