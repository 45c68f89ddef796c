"""Writers SIGKILLed mid-export on s3:// and gs://, then clean_stale_temporaries.

A worker process (TensorFlow imported once, never touching the store itself) forks one
export at a time into ONE base on the store's real server (``moto_server``;
fake-gcs-server behind the TLS proxy); the test SIGKILLs it at a
seeded random moment, until 20 kills hit a live export. Then, while one more writer is
alive but frozen (SIGSTOP) mid-export, ``clean_stale_temporaries`` runs from a fresh
process: it must remove everything the dead writers left (hidden temporaries, claim
files, integer-named directories they claimed and never finished) and nothing else --
not the frozen live writer's temporary, not a complete export. The frozen writer then
finishes its export.
"""

from __future__ import annotations

import os
import random
import signal
import time

from tests.support import store_checks
from tests.support.stores import StoreServer

KILLS = 20
MAX_ATTEMPTS = 45


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_killed_writers_leave_nothing_after_clean_stale_temporaries(
    object_store_server, model_dir, checkpoint_prefix, reliability_seed, tmp_path
):
    store: StoreServer = object_store_server
    rng = random.Random(reliability_seed)
    base = f"{store.root}/kills/exports"
    prefix = "kills/exports"
    env = store_checks.fault_env(store.name, store.env)
    worker = store_checks.StoreChild(store.name, model_dir, env, str(tmp_path / "worker.log"))
    try:
        # how long one export takes here, to pick kill moments inside it
        # (forked too: a process whose S3 client is set up must not fork exporters)
        started = time.monotonic()
        warmup = worker.call({"op": "fork_export", "base": f"{store.root}/kills/warmup"})["pid"]
        while _alive(warmup) and time.monotonic() - started < 120:
            time.sleep(0.05)
        duration = time.monotonic() - started
        assert [n for n in store_checks.entries(store, "kills/warmup") if n.isdigit()], (
            "warm-up failed"
        )
        kills = attempts = 0
        left_after_kills = set()
        while kills < KILLS and attempts < MAX_ATTEMPTS:
            attempts += 1
            pid = worker.call({"op": "fork_export", "base": base})["pid"]
            forked = time.monotonic()
            moment = rng.uniform(0.0, duration * 1.2)
            while time.monotonic() - forked < moment and _alive(pid):
                time.sleep(0.01)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
                kills += 1
            else:
                # it finished first: exports run faster now than the warm-up did (a
                # loaded machine), so aim inside this one's length from now on
                duration = time.monotonic() - forked
            deadline = time.monotonic() + 30
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        left_by_dead = store_checks.leftovers(store, prefix)
        partial_by_dead = store_checks.partial_versions(store, prefix)
        left_after_kills.update(left_by_dead + partial_by_dead)
        complete_before = sorted(
            name
            for name in store_checks.entries(store, prefix)
            if name.isdigit() and name not in partial_by_dead
        )
        # one live writer, frozen once its temporary exists
        live = worker.call({"op": "fork_export", "base": base})["pid"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(store_checks.leftovers(store, prefix)) <= len(
            left_by_dead
        ):
            time.sleep(0.05)
        os.kill(live, signal.SIGSTOP)
        live_items = sorted(set(store_checks.leftovers(store, prefix)) - set(left_by_dead))
        assert any(f"-{live}-" in item for item in live_items), live_items
        cleaner = store_checks.StoreChild(store.name, model_dir, env, str(tmp_path / "cleaner.log"))
        try:
            removed = cleaner.call({"op": "clean", "bases": [base], "older_than": 0}, timeout=180)[
                "removed"
            ]
        finally:
            cleaner.close()
        after = store_checks.entries(store, prefix)
        # the live writer's work is untouched, every dead writer's leftover is gone
        assert sorted(store_checks.leftovers(store, prefix)) == live_items, removed
        assert store_checks.partial_versions(store, prefix) == [], removed
        assert sorted(n for n in after if n.isdigit()) == complete_before, removed
        os.kill(live, signal.SIGCONT)
        deadline = time.monotonic() + 120
        while _alive(live) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(live)
    finally:
        worker.close()
    final = store_checks.entries(store, prefix)
    assert store_checks.leftovers(store, prefix) == []
    assert store_checks.partial_versions(store, prefix) == []
    completes = sorted(n for n in final if n.isdigit())
    assert len(completes) == len(complete_before) + 1  # the formerly frozen writer's
    for name in completes[-2:]:
        store_checks.check_complete_export(store, f"{base}/{name}", checkpoint_prefix)
    store_checks.record_figures(
        f"{store.name}_kills",
        {
            "store": store.name,
            "kills": kills,
            "attempts": attempts,
            "dead_leftovers": len(left_after_kills),
            "removed_by_cleanup": len(removed),
            "complete_kept": len(complete_before),
            "leftovers_after_cleanup": 0,
        },
    )
    assert kills >= KILLS, (kills, attempts)
