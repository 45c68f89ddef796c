"""The contract of ``estimator_ext.clean_stale_temporaries`` (issue 6, item 1).

Temporaries are made by hand here with the names exports give them, so each rule can
be tested alone: the writer's process alive or gone (or a zombie), this host or another,
the age from the name and from the newest mtime inside, and everything that must never
be touched. ``test_sigkill.py`` checks the same function against real killed and live
exports.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import threading
import time

import pytest
import tensorflow as tf

import estimator_ext
from estimator_ext.storage import names as naming
from estimator_ext.storage import paths
from tests.support import tree_audit

HOST = naming.host_label()
HOUR = 3600


def make_temporary(
    base: str, pid: int, host: str = HOST, started: float = 0, mtime: float = 0, token: str = "ab12"
) -> str:
    """A temporary as an export would leave it (variables and saved_model.pb inside),
    named with ``started``, ``host`` and ``pid``, every mtime set to ``mtime``."""
    path = os.path.join(base, f"{naming.TEMP_PREFIX}{int(started)}-{host}-{pid}-{token}")
    os.makedirs(os.path.join(path, "variables"))
    for name in ("saved_model.pb", os.path.join("variables", "variables.index")):
        with open(os.path.join(path, name), "wb") as handle:
            handle.write(b"x" * 10)
    for directory, subdirs, files in os.walk(path, topdown=False):
        for name in subdirs + files:
            os.utime(os.path.join(directory, name), (mtime, mtime))
        os.utime(directory, (mtime, mtime))
    return path


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.fixture
def base(tmp_path) -> str:
    path = tmp_path / "exports"
    path.mkdir()
    return str(path)


def test_removes_temporaries_of_dead_processes_older_than_the_limit(base, dead_pid):
    """A dead writer's temporary older than ``older_than`` is removed and reported;
    both seconds and a timedelta are accepted."""
    old = make_temporary(
        base, dead_pid, started=time.time() - 2 * HOUR, mtime=time.time() - 2 * HOUR
    )
    assert estimator_ext.clean_stale_temporaries(base, older_than=datetime.timedelta(hours=1)) == [
        old
    ]
    assert os.listdir(base) == []
    older = make_temporary(
        base, dead_pid, started=time.time() - 2 * HOUR, mtime=time.time() - 2 * HOUR
    )
    assert estimator_ext.clean_stale_temporaries(base, older_than=HOUR) == [older]


def test_keeps_young_temporaries_of_dead_processes(base, dead_pid):
    """Age comes from the newest of the name's start time and every mtime inside: a
    temporary with an old name but a freshly written file is young and kept, until
    older_than=0."""
    path = make_temporary(base, dead_pid, started=0, mtime=0)
    with open(os.path.join(path, "variables", "fresh"), "w") as handle:
        handle.write("just written")
    assert estimator_ext.clean_stale_temporaries(base, older_than=60) == []
    assert estimator_ext.clean_stale_temporaries(base) == []  # default: one hour
    assert estimator_ext.clean_stale_temporaries(base, older_than=0) == [path]


def test_never_removes_a_temporary_whose_process_is_alive(base):
    """A temporary of a live process on this host is kept whatever its age (here: this
    very process, with a name and mtimes from 1970)."""
    path = make_temporary(base, os.getpid(), started=0, mtime=0)
    assert estimator_ext.clean_stale_temporaries(base, older_than=0) == []
    assert os.path.isdir(path)


def test_a_zombie_counts_as_gone(base):
    """An exited but not yet reaped process (a zombie) writes nothing: its temporary is stale."""
    process = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while open(f"/proc/{process.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    path = make_temporary(base, process.pid)
    try:
        assert estimator_ext.clean_stale_temporaries(base, older_than=0) == [path]
    finally:
        process.wait()


def test_other_hosts_are_judged_by_age_alone(base):
    """On a shared filesystem another host's process cannot be seen, so even a pid that
    is alive here (ours) does not protect it: age alone decides."""
    young = make_temporary(
        base, os.getpid(), host="other_host", started=time.time(), mtime=time.time(), token="01"
    )
    old = make_temporary(base, os.getpid(), host="other_host", started=0, mtime=0, token="02")
    assert estimator_ext.clean_stale_temporaries(base, older_than=HOUR) == [old]
    assert os.path.isdir(young)


def test_touches_nothing_but_its_own_temporaries(base, dead_pid, tmp_path):
    """Integer-named exports, TF's own ``temp-<ts>`` directories, look-alike names, a
    file with a temporary's name, and a symlink with a temporary's name (pointing at a
    directory outside) all survive, and so does the symlink's target."""
    outside = tmp_path / "precious"
    (outside / "variables").mkdir(parents=True)
    (outside / "saved_model.pb").write_text("keep me")
    for name in (
        "1700000000",
        "temp-1700000000",
        f"{naming.TEMP_PREFIX}0-{HOST}-{dead_pid}-ab12.bak",
        f"{naming.TEMP_PREFIX}0-{HOST}-{dead_pid}",
        f"{naming.TEMP_PREFIX}x-{HOST}-{dead_pid}-ab12",
        "other",
    ):
        os.makedirs(os.path.join(base, name))
        os.utime(os.path.join(base, name), (0, 0))
    with open(os.path.join(base, f"{naming.TEMP_PREFIX}0-{HOST}-{dead_pid}-cd34"), "w") as handle:
        handle.write("a file, not a directory")
    os.symlink(outside, os.path.join(base, f"{naming.TEMP_PREFIX}0-{HOST}-{dead_pid}-ef56"))
    before_base, before_outside = tree_audit.snapshot(base), tree_audit.snapshot(str(outside))

    assert estimator_ext.clean_stale_temporaries(base, older_than=0) == []

    assert tree_audit.snapshot(base) == before_base
    assert tree_audit.snapshot(str(outside)) == before_outside


def test_concurrent_cleaners_remove_each_temporary_once_without_errors(base, dead_pid):
    """Four threads cleaning the same base at once: no error, every stale temporary gone,
    and each reported by at least one cleaner."""
    stale = sorted(make_temporary(base, dead_pid, token=f"{index:04x}") for index in range(40))
    results, errors = [], []
    barrier = threading.Barrier(4)

    def clean():
        barrier.wait()
        try:
            results.append(estimator_ext.clean_stale_temporaries(base, older_than=0))
        except Exception as error:  # pragma: no cover - the assertion below reports it
            errors.append(error)

    threads = [threading.Thread(target=clean) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(set().union(*results)) == stale
    assert os.listdir(base) == []


def test_works_through_tf_io_gfile_on_ram_filesystem(dead_pid):
    """A non-local base (``ram://``) is cleaned through ``tf.io.gfile``."""
    base = f"ram://clean-stale-{os.getpid()}-{time.time_ns()}"
    stale = paths.join(base, f"{naming.TEMP_PREFIX}0-{HOST}-{dead_pid}-ab12")
    live = paths.join(base, f"{naming.TEMP_PREFIX}0-{HOST}-{os.getpid()}-ab12")
    for path in (stale, live):
        tf.io.gfile.makedirs(paths.join(path, "variables"))
        with tf.io.gfile.GFile(paths.join(path, "saved_model.pb"), "w") as handle:
            handle.write("x")
    tf.io.gfile.makedirs(paths.join(base, "1700000000"))
    try:
        assert estimator_ext.clean_stale_temporaries(base, older_than=0) == [stale]
        assert sorted(tf.io.gfile.listdir(base)) == sorted(["1700000000", os.path.basename(live)])
    finally:
        tf.io.gfile.rmtree(base)


def test_missing_base_has_nothing_to_clean(tmp_path):
    """A base that does not exist is not created and nothing is reported."""
    missing = str(tmp_path / "never-exported")
    assert estimator_ext.clean_stale_temporaries(missing, older_than=0) == []
    assert not os.path.exists(missing)


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"export_dir_base": None}, TypeError, "export_dir_base"),
        ({"export_dir_base": ""}, TypeError, "export_dir_base"),
        ({"older_than": "1h"}, TypeError, "older_than"),
        ({"older_than": True}, TypeError, "older_than"),
        ({"older_than": -1}, ValueError, "older_than"),
        ({"older_than": float("nan")}, ValueError, "older_than"),
        ({"older_than": datetime.timedelta(seconds=-5)}, ValueError, "older_than"),
    ],
)
def test_bad_arguments_are_named(base, kwargs, error, text):
    """Bad arguments: a TypeError/ValueError naming the argument, nothing removed."""
    arguments = {"export_dir_base": base, "older_than": 0, **kwargs}
    with pytest.raises(error, match=text):
        estimator_ext.clean_stale_temporaries(**arguments)


def test_is_public():
    """Exported from the package, with its contract in the docstring."""
    assert "clean_stale_temporaries" in estimator_ext.__all__
    doc = estimator_ext.clean_stale_temporaries.__doc__
    assert "never removed" in doc and "older_than" in doc


def test_stale_publish_claims_are_removed_live_ones_kept(base, dead_pid):
    """Claim files (written beside the exports while copy-publishing on filesystems
    without atomic rename) follow the same rules: a dead writer's old claim is removed,
    a live writer's kept; a directory with a claim's name is not ours and stays."""
    stale = os.path.join(base, f"{naming.CLAIM_PREFIX}1700000000-0-{HOST}-{dead_pid}-ab12")
    live = os.path.join(base, f"{naming.CLAIM_PREFIX}1700000000-0-{HOST}-{os.getpid()}-ab12")
    not_a_claim = os.path.join(base, f"{naming.CLAIM_PREFIX}1700000000-0-{HOST}-{dead_pid}-cd34")
    for path in (stale, live):
        with open(path, "w") as handle:
            handle.write("temp dir being copied")
        os.utime(path, (0, 0))
    os.makedirs(not_a_claim)
    assert estimator_ext.clean_stale_temporaries(base, older_than=HOUR) == [stale]
    assert sorted(os.listdir(base)) == sorted(
        [os.path.basename(live), os.path.basename(not_a_claim)]
    )
