"""The watchdog's bound on store calls, also for a call made from inside another one.

Real threads and real time, no store: the bound is the watchdog's own logic. Each case
waits at most a few seconds (ESTIMATOR_EXT_STORE_CALL_SECONDS=1).
"""

from __future__ import annotations

import time

import pytest

from estimator_ext.storage import watchdog
from estimator_ext.storage.watchdog import StoreCallAbandoned, bounded

MIB = 2**20


@pytest.fixture(autouse=True)
def one_second_calls(monkeypatch):
    monkeypatch.setenv("ESTIMATOR_EXT_STORE_CALL_SECONDS", "1")


def test_a_stuck_call_is_abandoned_at_its_bound():
    started = time.monotonic()
    with pytest.raises(StoreCallAbandoned, match=r"stuck of 's3://b/x' within 1 s"):
        bounded("stuck", "s3://b/x", lambda: time.sleep(3))
    assert time.monotonic() - started < 2.5


def test_a_nested_call_keeps_its_own_shorter_bound():
    """A probe inside a long transfer (bound: 1 s + 60 s for 60 MiB) is abandoned at its
    own 1 s, not at the transfer's 61 s."""

    def transfer() -> str:
        with pytest.raises(StoreCallAbandoned, match="probe"):
            bounded("probe", "s3://b/probe", lambda: time.sleep(3))
        return "went on"

    started = time.monotonic()
    assert bounded("transfer", "s3://b/data", transfer, nbytes=60 * MIB) == "went on"
    assert time.monotonic() - started < 2.5


def test_a_nested_call_longer_than_what_is_left_runs_under_the_outer_bound():
    """An inner call whose own bound (1 s + 10 s) outlasts the outer call's (1 s) does not
    get a thread of its own: the outer bound abandons the whole call at 1 s."""
    started = time.monotonic()
    with pytest.raises(StoreCallAbandoned, match="outer"):
        bounded(
            "outer",
            "s3://b/x",
            lambda: bounded("inner", "s3://b/y", lambda: time.sleep(3), nbytes=10 * MIB),
        )
    assert time.monotonic() - started < 2.5


def test_results_and_errors_come_back_to_the_caller():
    assert bounded("answer", "s3://b/x", lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        bounded("divide", "s3://b/x", lambda: 1 / 0)


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_an_object_store_does_not_retry_a_corrupt_read(scheme, monkeypatch):
    """What was read is not what the caller expected (DataLossError, e.g. a file that is
    not a TFRecord): the file's fault, raised at once as it is, not retried and not
    reported as the store failing."""
    import tensorflow as tf

    from estimator_ext.storage.gcs import GCS_ENV_DEFAULTS
    from estimator_ext.storage.s3 import S3_ENV_DEFAULTS, s3_unavailable_reason
    from estimator_ext.storage.stores import store_for

    if scheme == "s3" and s3_unavailable_reason(tf.__version__) is not None:
        # No tensorflow-io serves s3:// on this TensorFlow (2.18+): no S3 store to call.
        pytest.skip(s3_unavailable_reason(tf.__version__))
    env_defaults = {"s3": S3_ENV_DEFAULTS, "gs": GCS_ENV_DEFAULTS}[scheme]
    for name, value in env_defaults.items():  # so preparing the store changes nothing
        monkeypatch.setenv(name, value)
    attempts = []

    def corrupt_read() -> None:
        attempts.append(None)
        raise tf.errors.DataLossError(None, None, "corrupted record at 0")

    path = f"{scheme}://bucket/requests.tfrecord"
    with pytest.raises(tf.errors.DataLossError) as raised:
        store_for(path).call("reading records", path, corrupt_read)
    assert len(attempts) == 1
    assert raised.value.message == "corrupted record at 0"


# --- probing the store while a call has not returned (bounded's probe) ---


@pytest.fixture
def probes_every_half_second(monkeypatch):
    monkeypatch.setattr(watchdog, "PROBE_AFTER_SECONDS", 0.5)
    monkeypatch.setattr(watchdog, "PROMPT_SECONDS", 0.5)
    monkeypatch.setenv("ESTIMATOR_EXT_STORE_CALL_SECONDS", "10")


def _hangs() -> bool:
    time.sleep(5)
    return True


def _refuses() -> bool:
    raise OSError("connection refused")


@pytest.mark.parametrize(
    "probe, at_most",
    [(_hangs, 1.5), (lambda: False, 1.0), (_refuses, 1.0)],
    ids=["probe unanswered", "probe answered no", "probe failed"],
)
def test_a_call_on_a_store_that_stopped_answering_is_abandoned_at_the_first_failed_probe(
    probes_every_half_second, probe, at_most
):
    """The call is stuck (its bound is 10 s) and the store does not answer a probe: the
    call is abandoned after one probe interval plus at most the prompt wait (0.5 + 0.5 s),
    not at its bound, with an error that says why."""
    started = time.monotonic()
    with pytest.raises(StoreCallAbandoned, match=r"did not answer a probe of its bucket within"):
        bounded("upload", "s3://b/x", lambda: time.sleep(8), probe=probe)
    assert 0.4 < time.monotonic() - started < at_most + 0.5


def test_a_slow_call_on_a_store_that_answers_keeps_its_bound(probes_every_half_second):
    """A store that answers every probe is alive: its slow call (3 s, several probe
    intervals) is not cut, and is probed once per interval while it runs."""
    probes = []

    def answers() -> bool:
        probes.append(time.monotonic())
        return True

    assert bounded("upload", "s3://b/x", lambda: time.sleep(3) or "done", probe=answers) == "done"
    assert 3 <= len(probes) <= 6, probes


def test_a_probe_never_carries_a_call_past_its_bound(probes_every_half_second, monkeypatch):
    """With 1 s of bound left, a hanging probe (prompt wait 5 s) is given only what is
    left: the call is abandoned at its bound, with the bound's own message."""
    monkeypatch.setattr(watchdog, "PROMPT_SECONDS", 5.0)
    monkeypatch.setenv("ESTIMATOR_EXT_STORE_CALL_SECONDS", "1")
    started = time.monotonic()
    with pytest.raises(StoreCallAbandoned, match=r"within 1 s and was abandoned"):
        bounded("upload", "s3://b/x", lambda: time.sleep(8), probe=_hangs)
    assert time.monotonic() - started < 1.6


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_an_object_store_s_probe_is_no_answer_from_a_store_that_refuses(scheme, monkeypatch):
    """The object store's probe asks its bucket root through TensorFlow's own client:
    nothing listening on the endpoint (a closed loopback port) is no answer."""
    import socket

    import tensorflow as tf

    from estimator_ext.storage import object_store
    from estimator_ext.storage.s3 import s3_unavailable_reason

    if scheme == "s3" and s3_unavailable_reason(tf.__version__) is not None:
        pytest.skip(s3_unavailable_reason(tf.__version__))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    if scheme == "s3":
        monkeypatch.setenv("S3_ENDPOINT", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    else:
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("GOOGLE_AUTH_TOKEN_FOR_TESTING", "test")
        monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setenv("S3_CONNECT_TIMEOUT_MSEC", "500")
    monkeypatch.setenv("S3_REQUEST_TIMEOUT_MSEC", "500")
    # (TensorFlow read its GCS_* settings at import: estimator_ext's bounded defaults.)
    assert object_store._prober(f"{scheme}://bucket/exports/1/saved_model.pb")() is False


# --- one export's store calls, once the store stopped answering (watchdog.one_export) ---


@pytest.fixture
def two_seconds_after_a_stop(monkeypatch):
    monkeypatch.setattr(watchdog, "AFTER_STOP_SECONDS", 2.0)
    monkeypatch.setattr(watchdog, "PROMPT_SECONDS", 0.2)
    monkeypatch.setenv("ESTIMATOR_EXT_STORE_CALL_SECONDS", "10")


def test_after_a_failure_the_export_s_calls_share_what_is_left(two_seconds_after_a_stop):
    """Once an attempt failed, the calls after it get what is left of the 2 s in all,
    not 10 s each; once that is spent, a call is not even attempted."""
    with watchdog.one_export():
        watchdog.store_failed()
        started = time.monotonic()
        with pytest.raises(StoreCallAbandoned, match=r"cleanup of 's3://b/x' within 2 s"):
            bounded("cleanup", "s3://b/x", lambda: time.sleep(5))
        assert 1.5 < time.monotonic() - started < 3.0
        attempted = []
        with pytest.raises(StoreCallAbandoned, match="was not attempted: the store stopped"):
            bounded("removing", "s3://b/y", lambda: attempted.append(1))
        assert attempted == []


def test_a_large_transfer_keeps_its_per_mib_allowance_after_a_stop(two_seconds_after_a_stop):
    """A big upload retried after one failed attempt is bounded by its size, not by the
    2 s left: 4 MiB at 1 s per MiB gets 4 s (not the 10 s + 4 s it gets otherwise)."""
    with watchdog.one_export():
        watchdog.store_failed()
        assert bounded("copy", "s3://b/big", lambda: time.sleep(2.5) or 7, nbytes=4 * 2**20) == 7
        started = time.monotonic()
        with pytest.raises(StoreCallAbandoned, match=r"within 4 s"):
            bounded("copy", "s3://b/big", lambda: time.sleep(8), nbytes=4 * 2**20)
        assert 3.5 < time.monotonic() - started < 5.5


def test_a_call_that_succeeds_ends_the_countdown(two_seconds_after_a_stop):
    with watchdog.one_export():
        watchdog.store_failed()
        time.sleep(2.1)
        watchdog.store_answered()  # the store came back
        assert watchdog.time_left_after_stop() is None
        assert bounded("listing", "s3://b/x", lambda: time.sleep(0.1) or 7) == 7


def test_outside_an_export_a_failure_shortens_nothing(two_seconds_after_a_stop):
    watchdog.store_failed()  # no export on this thread: ignored
    assert watchdog.time_left_after_stop() is None
    assert bounded("listing", "s3://b/x", lambda: time.sleep(2.5) or 7) == 7
    with watchdog.one_export():  # a new export starts with the store answering
        assert watchdog.time_left_after_stop() is None


def test_a_failed_export_s_cleanup_shares_the_bound_whatever_ended_it(two_seconds_after_a_stop):
    """An export can end on an error that proves nothing about its store (a NotFoundError,
    a model_fn bug) while the store has in fact stopped: tensorflow-io turns a timed-out
    probe into False, which starts no countdown. Removing what it wrote still shares the
    2 s: three stuck cleanup calls end within about 2 s, not 10 s each."""
    with watchdog.one_export():
        watchdog.export_failed()
        started = time.monotonic()
        for operation in ("checking a directory", "checking a path", "removing a directory"):
            with pytest.raises(StoreCallAbandoned):
                bounded(operation, "s3://b/.temp", lambda: time.sleep(5))
        assert time.monotonic() - started < 3.0
    assert watchdog.time_left_after_stop() is None  # the next export starts afresh


# --- one export's budget for trouble: failed, abandoned and late attempts, never given back ---


def test_late_empty_answers_start_the_countdown_and_spend_the_trouble_budget(
    two_seconds_after_a_stop,
):
    """tensorflow-io's S3 client answers a timed-out ``exists`` with False after about
    30 s: no error, so before the budget a stopped store caught at the publish step could
    run four such probes, then one stuck copy (over 240 s measured). Here the call bound is
    10 s and the prompt limit 0.2 s: two late False answers (about 1 s each) start the
    countdown, so the stuck call after them gets what is left of the 2 s, not 10 s."""
    from estimator_ext.storage.object_store import _attempt

    with watchdog.one_export():
        for _ in range(2):
            assert _attempt("exists", "s3://b/x", lambda: time.sleep(1.0) or False, 0) is False
        assert watchdog.time_left_for_trouble() == pytest.approx(10.0 + 2.0 - 2.0, abs=0.3)
        left = watchdog.time_left_after_stop()
        assert left is not None and 0.5 < left < 1.2
        started = time.monotonic()
        with pytest.raises(StoreCallAbandoned):
            bounded("copy-publish", "s3://b/y", lambda: time.sleep(5))
        assert time.monotonic() - started < 1.5


def test_a_prompt_answer_ends_the_countdown_but_gives_no_trouble_back(
    two_seconds_after_a_stop, monkeypatch
):
    """A store that answers some calls promptly and hangs on others: each prompt answer
    ends the countdown, but the time spent hanging adds up, and once the call bound plus
    2 s of it is spent (here 3 s: a 1 s bound), no call is attempted, however promptly
    the store answered the last one."""
    from estimator_ext.storage.object_store import _attempt

    monkeypatch.setenv("ESTIMATOR_EXT_STORE_CALL_SECONDS", "1")
    started = time.monotonic()
    with watchdog.one_export():
        answered = 0
        with pytest.raises(StoreCallAbandoned, match="was not attempted") as raised:
            for _ in range(10):
                with pytest.raises(StoreCallAbandoned):
                    _attempt("copy", "s3://b/stuck", lambda: time.sleep(5), 0)
                assert _attempt("listing", "s3://b/", lambda: ["a"], 0) == ["a"]  # prompt
                assert watchdog.time_left_after_stop() is None  # the countdown ended
                answered += 1
        assert answered >= 1  # the store did answer in between
        error = raised.value
        assert "already spent 3 s failing, hanging or answering late" in error.message
        assert "ESTIMATOR_EXT_STORE_CALL_SECONDS" in error.message
    assert time.monotonic() - started < 4.5
    assert watchdog.time_left_for_trouble() is None  # the next export starts afresh


def test_a_large_transfer_is_late_only_beyond_its_per_mib_allowance(monkeypatch):
    monkeypatch.setattr(watchdog, "PROMPT_SECONDS", 0.2)
    with watchdog.one_export():
        watchdog.attempt_returned(1.0, 4 * MIB, empty=False)  # 4 MiB in 1 s: prompt
        assert watchdog.time_left_for_trouble() is None
        watchdog.attempt_returned(1.0, 0, empty=False)  # late, but an answer
        assert watchdog.time_left_for_trouble() is not None
        assert watchdog.time_left_after_stop() is None
