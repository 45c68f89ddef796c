"""Issue 6, item 1: exports SIGKILLed at random moments and at exact points.

Kills come from the worker process (see ``tests/support/worker.py``): each export runs in a process
forked from it, which it SIGKILLs after a random delay drawn (fixed seed) over the
length of an export. A kill counts as a trial only if it landed during the export:
after the child said "start" and before it said "done". A loader-like watcher polls the
base every millisecond throughout and checks every integer-named directory the moment
it appears.
"""

from __future__ import annotations

import collections
import os

import pytest

import estimator_ext
from estimator_ext.storage import names as naming
from tests.support import tree_audit

RANDOM_KILL_TRIALS = 60


def _temporaries(base: str):
    return sorted(name for name in os.listdir(base) if naming.parse_temp_dir_name(name))


@pytest.fixture(scope="module")
def killed_base(worker, model_dir, reliability_seed, tmp_path_factory):
    """A base after RANDOM_KILL_TRIALS exports were SIGKILLed mid-way, and the report."""
    base = str(tmp_path_factory.mktemp("sigkill") / "exports")
    os.makedirs(base)
    report = worker.call(
        "kill_trials",
        timeout=200,
        model_dir=model_dir,
        base=base,
        seed=reliability_seed,
        trials=RANDOM_KILL_TRIALS,
        max_attempts=4 * RANDOM_KILL_TRIALS,
    )
    return base, report


def test_random_kills_leave_only_complete_integer_named_exports(
    killed_base, checkpoint_prefix, reliability_seed
):
    """>= 60 SIGKILLs that landed mid-export: after each kill, and at every moment a
    polling loader looked, every integer-named directory is a complete SavedModel; at
    the end each one loads in every mode it claims with the checkpoint's values."""
    base, report = killed_base
    phases = collections.Counter(r["phase"] for r in report["records"])
    context = f"seed={reliability_seed}, phases={phases}"
    assert report["counted"] >= RANDOM_KILL_TRIALS, context
    for record in report["records"]:
        assert record["problems"] == {}, f"{context}: partial export after kill {record}"
    assert report["watcher"]["polls"] > 100, context
    for name, problems in report["watcher"]["seen"].items():
        assert problems == [], (
            f"{context}: the loader saw integer-named {name} incomplete: {problems}"
        )
    for name in tree_audit.integer_dirs(base):
        loaded = tree_audit.load_every_mode(os.path.join(base, name), checkpoint_prefix)
        assert sorted(loaded) == [("eval",), ("serve",), ("train",)], (name, context)


def test_kills_landed_in_several_phases(killed_base, reliability_seed):
    """The random delays spread kills over the export: at least three distinct phases
    (graph building, variables, saved_model.pb written, published) were hit."""
    _, report = killed_base
    phases = collections.Counter(
        record["phase"] for record in report["records"] if record["during_export"]
    )
    print(
        f"seed={reliability_seed} export={report['export_seconds']:.3f}s "
        f"kills by phase: {dict(phases)}"
    )
    assert len(phases) >= 3, f"seed={reliability_seed}: kills landed only in {dict(phases)}"


def test_killed_temporaries_never_look_like_exports(killed_base):
    """What killed exports leave behind is hidden, never integer-like, and never holds
    a loadable SavedModel under a name a loader would take."""
    base, report = killed_base
    killed_before_publish = [
        r for r in report["records"] if r["during_export"] and r["phase"] != "published"
    ]
    temporaries = _temporaries(base)
    assert killed_before_publish and temporaries
    for name in os.listdir(base):
        assert name.isdigit() or (name.startswith(".") and naming.parse_temp_dir_name(name)), name
    assert not any(name.isdigit() for name in temporaries)


def test_kill_points_each_phase(worker, model_dir, tmp_path, checkpoint_prefix):
    """A SIGKILL at each exact moment of an export (injected in the forked exporter by
    wrapping the real function at that point): mid-variables, after saved_model.pb,
    mid-assets.extra, mid-fsync, just before and just after the publishing rename. Only
    the kill after the rename leaves an integer-named directory, and it is complete."""
    base = str(tmp_path / "exports")
    os.makedirs(base)
    sources = {}
    for name in ("a.txt", "b.txt"):
        sources[f"extra/{name}"] = str(tmp_path / name)
        (tmp_path / name).write_text(name * 100)
    records = worker.call("kill_points", model_dir=model_dir, base=base, asset_sources=sources)
    assert [record["point"] for record in records] == [
        "after-temp-dir",
        "mid-variables",
        "after-variables",
        "after-saved-model-pb",
        "mid-assets-extra",
        "mid-fsync",
        "before-rename",
        "after-rename",
    ]
    for record in records:
        assert record["killed"], record
        assert record["problems"] == {}, record
        expected_new = 1 if record["point"] == "after-rename" else 0
        assert len(record["new_exports"]) == expected_new, record
    published = os.path.join(base, records[-1]["new_exports"][0])
    assert sorted(tree_audit.load_every_mode(published, checkpoint_prefix)) == [
        ("eval",),
        ("serve",),
        ("train",),
    ]
    assert sorted(os.listdir(os.path.join(published, "assets.extra", "extra"))) == [
        "a.txt",
        "b.txt",
    ]
    assert len(_temporaries(base)) == len(records) - 1


def test_clean_stale_temporaries_after_kills_spares_a_live_export(
    killed_base, worker, model_dir, checkpoint_prefix
):
    """After the kills: a live export (paused in another process, its temporary made to
    look ancient) survives ``clean_stale_temporaries(older_than=0)``, which removes every
    temporary of the killed processes and nothing else; the live export then completes,
    and a later export into the same base succeeds and loads."""
    base, _ = killed_base
    exports_before = tree_audit.integer_dirs(base)
    stale = [os.path.join(base, name) for name in _temporaries(base)]
    assert stale
    live = worker.call("start_live_export", model_dir=model_dir, base=base)
    assert len(live["temp_dirs"]) == 1
    live_temp = live["temp_dirs"][0]
    for directory, subdirs, files in os.walk(live_temp):  # make it look days old
        for name in [""] + subdirs + files:
            path = os.path.join(directory, name) if name else directory
            os.utime(path, (0, 0))

    removed = estimator_ext.clean_stale_temporaries(base, older_than=0)

    assert removed == sorted(stale)
    assert os.path.isdir(live_temp)
    assert tree_audit.integer_dirs(base) == exports_before
    finished = worker.call("finish_live_export")
    assert "result" in finished, finished
    assert not os.path.exists(live_temp)
    later = worker.call("export_once", model_dir=model_dir, base=base)
    assert "result" in later, later
    for export_dir in (finished["result"], later["result"]):
        assert sorted(tree_audit.load_every_mode(export_dir, checkpoint_prefix)) == [
            ("eval",),
            ("serve",),
            ("train",),
        ]
    assert _temporaries(base) == []
    assert set(tree_audit.integer_dirs(base)) == set(exports_before) | {
        os.path.basename(finished["result"]),
        os.path.basename(later["result"]),
    }
