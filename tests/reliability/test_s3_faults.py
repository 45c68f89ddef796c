"""s3:// exports through a fault-injecting proxy: complete or raise, never hang, no partial.

Topology: the S3 child process (tensorflow-io, the AWS SDK inside) -> ``FaultProxy`` on
127.0.0.1 -> ``moto_server`` on 127.0.0.1. ``EXPORTS`` three-mode exports (60 with
ESTIMATOR_EXT_S3_FAULT_EXPORTS=60) run one after another, each into its own base, with 0
to 50 % of connections faulted (resets mid-body, stalls, 500 InternalError, 503
SlowDown) on a fixed schedule, and outages (every connection refused for 20 s, longer
than one call's bound) starting at a seeded moment inside an export. After every export
the bucket is read directly (boto3 to moto): a returned export must be complete (every
meta graph loads, the variables equal the checkpoint's), and no export may leave an
integer-named directory without ``saved_model.pb``. At the end
``clean_stale_temporaries`` (from a fresh process) leaves no temporary or claim.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time

import pytest

from tests.faultproxy import FaultProxy
from tests.reliability import _s3support
from tests.s3server import BUCKET, S3_MISSING, S3_SKIP_REASON, moto_server

pytestmark = pytest.mark.skipif(bool(S3_MISSING), reason=S3_SKIP_REASON)

#: 60 in the issue; the default is what fits the suite's time budget on a shared 2-core
#: machine (faulted exports take 10-70 s each there). ESTIMATOR_EXT_S3_FAULT_EXPORTS=60
#: runs the full schedule.
EXPORTS = int(os.environ.get("ESTIMATOR_EXT_S3_FAULT_EXPORTS", "12"))
RATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
OUTAGE_AT = (
    tuple(range(4, 1000, 12))[: max(1, EXPORTS // 12)] + tuple(range(9, 1000, 12))[: EXPORTS // 12]
)
OUTAGE_SECONDS = 20.0
#: A whole export makes dozens of store calls, each bounded (connect 2 s, request 3 s,
#: 3 attempts, estimator_ext's retries), plus up to 45 s waiting to remove a partial
#: directory; measured longest failure: 115.5 s on a loaded 2-core machine.
MAX_SECONDS_PER_EXPORT = 180.0


@pytest.fixture
def _deadline():  # overrides the suite's 240 s per-test deadline: this test runs 60 exports
    import faulthandler

    faulthandler.dump_traceback_later(max(560, 60 * EXPORTS), exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def test_sixty_faulted_exports_complete_or_raise_and_leave_no_partial_version(
    model_dir, checkpoint_prefix, reliability_seed, tmp_path
):
    rng = random.Random(reliability_seed)
    outcomes = []
    with (
        moto_server(str(tmp_path / "moto.log")) as moto,
        FaultProxy(
            moto["port"], seed=reliability_seed, stall_seconds=5.0, lifetime=max(560, 60 * EXPORTS)
        ) as proxy,
    ):
        child = _s3support.S3Child(
            model_dir, _s3support.fault_env(proxy.endpoint), str(tmp_path / "child.log")
        )
        try:
            for index in range(EXPORTS):
                proxy.set_fault_rate(RATES[index % len(RATES)])
                timer = None
                if index in OUTAGE_AT:
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
                    rate=RATES[index % len(RATES)],
                    injected=proxy.total_injected - before,
                )
                outcomes.append(outcome)
                prefix = f"faults/{index}/exports"
                assert _s3support.partial_versions(moto["client"], prefix) == [], outcome
                assert outcome["seconds"] < MAX_SECONDS_PER_EXPORT, outcome
                if outcome["ok"]:
                    _s3support.check_complete_export(
                        moto["client"], outcome["export_dir"], checkpoint_prefix
                    )
                else:
                    assert "the object store failed" in outcome["error"], outcome
                    assert "retried this operation" in outcome["error"], outcome
                    assert "S3_REQUEST_TIMEOUT_MSEC=3000" in outcome["error"], (
                        outcome
                    )  # user's value kept
                    assert f"s3://{BUCKET}" in outcome["error"], outcome
        finally:
            child.close()
            counts = proxy.counts()
        left_before_cleanup = sum(
            len(_s3support.leftovers(moto["client"], f"faults/{i}/exports")) for i in range(EXPORTS)
        )
        # A fresh process cleans up: the exporting child is gone, so its temporaries are stale.
        cleaner = _s3support.S3Child(
            model_dir, _s3support.fault_env(moto["endpoint"]), str(tmp_path / "clean.log")
        )
        try:
            bases = [f"s3://{BUCKET}/faults/{i}/exports" for i in range(EXPORTS)]
            removed = cleaner.call({"op": "clean", "bases": bases, "older_than": 0}, timeout=180)[
                "removed"
            ]
        finally:
            cleaner.close()
        left_after_cleanup = sum(
            len(_s3support.leftovers(moto["client"], f"faults/{i}/exports"))
            + len(_s3support.partial_versions(moto["client"], f"faults/{i}/exports"))
            for i in range(EXPORTS)
        )

    completed = [o for o in outcomes if o["ok"]]
    failed = [o for o in outcomes if not o["ok"]]
    figures = {
        "seed": reliability_seed,
        "exports_attempted": len(outcomes),
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
