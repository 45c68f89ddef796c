"""A long-lived helper process for the multi-process reliability tests.

Importing TensorFlow costs ~3 s per process, so the suite starts this worker once
(tests/reliability/conftest.py, ``worker``). It imports TensorFlow and estimator_ext, warms
up with one export of its own, then serves JSON requests, one per line on stdin, one JSON
answer per line on a private copy of stdout. Every export it is asked for runs in a process
forked from it (milliseconds instead of seconds), which it can SIGKILL, SIGSTOP or limit
with ``RLIMIT_FSIZE`` without harming itself or the pytest process. The worker never opens a
TensorFlow session itself, so forking it stays safe.

Fault injection: besides random kills, ``kill_points`` makes the forked exporter SIGKILL
itself at exact moments (mid-variables, just before and just after the publishing
rename, ...) by wrapping the library's own functions in that child; the operations
themselves are the real ones.
"""

from __future__ import annotations

import json
import os
import random
import resource
import select
import signal
import sys
import time
import traceback
from typing import Any, Callable

# Answers go to a private descriptor; anything else printing to stdout goes to stderr.
_ANSWERS = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

import estimator_ext  # noqa: E402
from estimator_ext.export import write as export_write  # noqa: E402
from estimator_ext.storage import names as naming  # noqa: E402
from estimator_ext.storage import publish as publishing  # noqa: E402
from tests.support import data, tree_audit  # noqa: E402

tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)

CHILD_TIMEOUT = 60.0


# --- forked children ----------------------------------------------------------------------


def _fork(body: Callable[[Callable[[str], None]], Any]) -> tuple[int, int]:
    """Runs ``body(say)`` in a forked child; ``say(text)`` sends a line to the parent,
    the child's return value is sent as a JSON line tagged ``result``.
    Returns (pid, read end of the child's pipe)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        status = 0
        try:
            os.close(read_end)

            def say(text: str) -> None:
                os.write(write_end, (text + "\n").encode())

            say("result " + json.dumps(body(say)))
        except BaseException as error:  # report everything, then leave without cleanup
            failure = {
                "type": type(error).__name__,
                "message": str(error),
                "traceback": traceback.format_exc(),
            }
            say_error = f"error {json.dumps(failure)}\n"
            os.write(write_end, say_error.encode())
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    return pid, read_end


def _read_line(read_end: int, buffer: bytearray, timeout: float) -> str | None:
    """The next line from a child's pipe, or None at EOF; raises TimeoutError."""
    deadline = time.monotonic() + timeout
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("child process did not answer in time")
        ready, _, _ = select.select([read_end], [], [], remaining)
        if ready:
            chunk = os.read(read_end, 65536)
            if not chunk:
                return None
            buffer.extend(chunk)
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line.decode()


def _read_all(read_end: int) -> list[str]:
    chunks = []
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    return [line for line in b"".join(chunks).decode().splitlines() if line]


def _wait_child(pid: int, read_end: int, timeout: float = CHILD_TIMEOUT) -> dict[str, Any]:
    """Waits for a child to finish; returns its result or error (killing it on timeout)."""
    buffer = bytearray()
    lines = []
    try:
        while True:
            line = _read_line(read_end, buffer, timeout)
            if line is None:
                break
            lines.append(line)
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)
        lines.append('error {"type": "TimeoutError", "message": "child hung", "traceback": ""}')
    os.close(read_end)
    os.waitpid(pid, 0)
    return _outcome(lines)


def _outcome(lines: list[str]) -> dict[str, Any]:
    for line in lines:
        if line.startswith("result "):
            return {"result": json.loads(line[len("result ") :]), "lines": lines}
        if line.startswith("error "):
            return {"error": json.loads(line[len("error ") :]), "lines": lines}
    return {"lines": lines}


def _export_body(model_dir: str, base: str, modes=data.ALL_MODES, **kwargs: Any):
    def body(say: Callable[[str], None]) -> str:
        estimator = data.make_adam_estimator(model_dir)
        receivers = data.adam_receiver_map(modes)
        say("start")
        result = estimator_ext.export_all_saved_models(estimator, base, receivers, **kwargs)
        say("done")
        return str(result)

    return body


# --- watching a base like a version-polling loader ----------------------------------------


def _start_watcher(base: str) -> tuple[int, int, int]:
    """Forks a process that polls ``base`` every millisecond, like TF Serving polling for
    versions, and checks each integer-named directory the first time it sees it. Stop it
    by writing to the returned stop descriptor; its result lists what it saw."""
    stop_read, stop_write = os.pipe()

    def body(say: Callable[[str], None]) -> dict[str, Any]:
        os.close(stop_write)
        seen: dict[str, list[str]] = {}
        polls = 0
        while True:
            for name in tree_audit.integer_dirs(base):
                if name not in seen:
                    seen[name] = tree_audit.export_problems(os.path.join(base, name))
            polls += 1
            if select.select([stop_read], [], [], 0.001)[0]:
                return {"polls": polls, "seen": seen}

    pid, read_end = _fork(body)
    os.close(stop_read)
    return pid, read_end, stop_write


def _stop_watcher(watcher: tuple[int, int, int]) -> dict[str, Any]:
    pid, read_end, stop_write = watcher
    os.write(stop_write, b"x")
    os.close(stop_write)
    outcome = _wait_child(pid, read_end)
    if "result" not in outcome:
        raise RuntimeError(f"watcher failed: {outcome}")
    return outcome["result"]


# --- inspecting a base after a kill -------------------------------------------------------


def _phase(base: str, pid: int, exports_before: list[str]) -> str:
    """Where the killed export (process ``pid``) was, judged from what it left on disk."""
    if set(tree_audit.integer_dirs(base)) - set(exports_before):
        return "published"
    temps = [
        name
        for name in os.listdir(base)
        if (naming.parse_temp_dir_name(name) or naming.TempDirName(0, "", -1)).pid == pid
    ]
    if not temps:
        return "before-temp-dir"
    temp = os.path.join(base, temps[0])
    names = set()
    for _, _, files in os.walk(temp):
        names.update(files)
    if "saved_model.pb" in names or "saved_model.pbtxt" in names:
        return "saved-model-written"
    if "variables.index" in names:
        return "variables-written"
    if any(name.startswith("variables.data") for name in names):
        return "writing-variables"
    return "building-train-graph"


def _integer_dir_problems(base: str) -> dict[str, list[str]]:
    problems = {}
    for name in tree_audit.integer_dirs(base):
        found = tree_audit.export_problems(os.path.join(base, name))
        if found:
            problems[name] = found
    return problems


# --- requests -----------------------------------------------------------------------------


def kill_trials(
    model_dir: str, base: str, seed: int, trials: int, max_attempts: int
) -> dict[str, Any]:
    """SIGKILLs forked exports at random moments until ``trials`` kills landed during an
    export (between its "start" and "done"); after each kill every integer-named
    directory must be a complete SavedModel."""
    rng = random.Random(seed)
    durations = []
    for _ in range(3):
        pid, read_end = _fork(
            _export_body(model_dir, os.path.join(base, "..", "timing-" + os.path.basename(base)))
        )
        buffer = bytearray()
        assert _read_line(read_end, buffer, CHILD_TIMEOUT) == "start"
        started = time.monotonic()
        assert _read_line(read_end, buffer, CHILD_TIMEOUT) == "done"
        durations.append(time.monotonic() - started)
        _wait_child(pid, read_end)
    export_seconds = sorted(durations)[1]

    watcher = _start_watcher(base)
    records = []
    counted = 0
    for attempt in range(max_attempts):
        if counted >= trials:
            break
        # Two kills in three at a uniform delay over the export; one in three a few
        # milliseconds after saved_model.pb appears, where the short fsync and rename
        # steps are (a few ms of a ~0.2 s export, rarely hit by uniform delays).
        aimed_at_publish = rng.random() < 1 / 3
        delay = (
            rng.uniform(0.0, 0.02) if aimed_at_publish else rng.uniform(0.0, export_seconds * 1.15)
        )
        exports_before = tree_audit.integer_dirs(base)
        pid, read_end = _fork(_export_body(model_dir, base))
        buffer = bytearray()
        if _read_line(read_end, buffer, CHILD_TIMEOUT) != "start":
            raise RuntimeError("exporting child did not start")
        if aimed_at_publish:
            _wait_for_saved_model_pb(base, pid)
            time.sleep(delay)
        else:
            forked = time.monotonic()
            try:
                line = _read_line(read_end, buffer, delay)
            except TimeoutError:  # still exporting at the chosen moment
                line = None
            if line == "done":
                # It finished first: exports run faster now than when they were timed (a
                # machine loaded then, by the suite's other worker), so aim inside this
                # one's length from now on. "done" goes back for the check below.
                export_seconds = time.monotonic() - forked
                buffer[:0] = b"done\n"
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        rest = bytes(buffer).decode().splitlines() + _read_all(read_end)
        finished = "done" in rest
        during_export = (
            not finished and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        )
        counted += during_export
        records.append(
            {
                "attempt": attempt,
                "delay": round(delay, 4),
                "during_export": during_export,
                "phase": _phase(base, pid, exports_before) if during_export else "after-done",
                "problems": _integer_dir_problems(base),
            }
        )
    seen = _stop_watcher(watcher)
    return {
        "export_seconds": export_seconds,
        "counted": counted,
        "records": records,
        "watcher": seen,
    }


def _wait_for_saved_model_pb(base: str, pid: int, timeout: float = CHILD_TIMEOUT) -> None:
    """Returns once process ``pid``'s temporary holds saved_model.pb, or it is gone."""
    deadline = time.monotonic() + timeout
    temp = None
    while time.monotonic() < deadline:
        if temp is None:
            for name in os.listdir(base):
                parsed = naming.parse_temp_dir_name(name)
                if parsed and parsed.pid == pid:
                    temp = os.path.join(base, name)
        if temp is not None and (
            os.path.exists(os.path.join(temp, "saved_model.pb")) or not os.path.exists(temp)
        ):
            return
        time.sleep(0.0002)


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _kill_point_body(model_dir: str, base: str, point: str, asset_sources: dict[str, str]):
    """An export that SIGKILLs itself at ``point``, by wrapping the real function there."""

    def body(say: Callable[[str], None]) -> str:
        from estimator_ext.storage import local_copy

        if point == "after-temp-dir":
            export_write._write_saved_model = lambda *args, **kwargs: _kill_self()
        elif point == "mid-variables":  # a data file is in place, the index is not
            real_copy = local_copy.copy

            def copy_then_die(source, target, on_bytes=None):
                real_copy(source, target, on_bytes)
                if ".data-" in str(target):
                    _kill_self()

            local_copy.copy = copy_then_die
        elif point == "after-variables":
            real_write = export_write.write_variables

            def write_then_die(*args, **kwargs):
                real_write(*args, **kwargs)
                _kill_self()

            export_write.write_variables = write_then_die
        elif point == "after-saved-model-pb":
            real_write = export_write.gfile.write_bytes

            def write_then_die(path, content, operation="writing"):
                real_write(path, content, operation)
                if str(path).endswith("saved_model.pb"):
                    _kill_self()

            export_write.gfile.write_bytes = write_then_die
        elif point == "mid-assets-extra":
            real_copy = local_copy.copy

            def copy_then_die(source, target, on_bytes=None):
                real_copy(source, target, on_bytes)
                if "assets.extra" in target:
                    _kill_self()

            local_copy.copy = copy_then_die
        elif point == "mid-fsync":
            real_fsync = os.fsync
            calls = []

            def fsync_then_die(descriptor):
                real_fsync(descriptor)
                calls.append(descriptor)
                if len(calls) == 2:
                    _kill_self()

            os.fsync = fsync_then_die
        elif point in ("before-rename", "after-rename"):
            real_rename = os.rename

            def rename_and_die(source, target):
                if point == "before-rename":
                    _kill_self()
                real_rename(source, target)
                _kill_self()

            os.rename = rename_and_die
        else:
            raise ValueError(point)
        estimator = data.make_adam_estimator(model_dir)
        say("start")
        result = estimator_ext.export_all_saved_models(
            estimator, base, data.adam_receiver_map(), assets_extra=asset_sources or None
        )
        say("done")
        return str(result)

    return body


KILL_POINTS = (
    "after-temp-dir",
    "mid-variables",
    "after-variables",
    "after-saved-model-pb",
    "mid-assets-extra",
    "mid-fsync",
    "before-rename",
    "after-rename",
)


def kill_points(model_dir: str, base: str, asset_sources: dict[str, str]) -> list[dict[str, Any]]:
    records = []
    for point in KILL_POINTS:
        exports_before = tree_audit.integer_dirs(base)
        pid, read_end = _fork(_kill_point_body(model_dir, base, point, asset_sources))
        lines = _read_all(read_end)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        records.append(
            {
                "point": point,
                "killed": killed,
                "lines": lines,
                "phase": _phase(base, pid, exports_before),
                "new_exports": sorted(
                    set(tree_audit.integer_dirs(base)) - set(exports_before), key=int
                ),
                "problems": _integer_dir_problems(base),
            }
        )
    return records


_LIVE: dict[str, Any] = {}


def start_live_export(model_dir: str, base: str) -> dict[str, Any]:
    """Starts an export that pauses, alive, after writing its variables (its PREDICT
    receiver fn waits for a go signal), and answers with its pid and temp dir."""
    go_read, go_write = os.pipe()

    def body(say: Callable[[str], None]) -> str:
        os.close(go_write)
        receivers = data.adam_receiver_map()
        serving = receivers[data.MK.PREDICT]

        def paused_serving_receiver():
            say("paused")
            os.read(go_read, 1)
            return serving()

        receivers[data.MK.PREDICT] = paused_serving_receiver
        result = estimator_ext.export_all_saved_models(
            data.make_adam_estimator(model_dir), base, receivers
        )
        return str(result)

    pid, read_end = _fork(body)
    os.close(go_read)
    buffer = bytearray()
    if _read_line(read_end, buffer, CHILD_TIMEOUT) != "paused":
        raise RuntimeError("live export did not reach its pause")
    temps = [
        name
        for name in os.listdir(base)
        if (naming.parse_temp_dir_name(name) or naming.TempDirName(0, "", -1)).pid == pid
    ]
    _LIVE.update(pid=pid, read_end=read_end, go_write=go_write)
    return {"pid": pid, "temp_dirs": [os.path.join(base, name) for name in temps]}


def finish_live_export() -> dict[str, Any]:
    os.write(_LIVE["go_write"], b"g")
    os.close(_LIVE["go_write"])
    return _wait_child(_LIVE["pid"], _LIVE["read_end"])


def export_once(model_dir: str, base: str) -> dict[str, Any]:
    pid, read_end = _fork(_export_body(model_dir, base))
    return _wait_child(pid, read_end)


def _count_rename_collisions() -> list[int]:
    """Wraps os.rename (in a child) to count the targets it found taken; observation only."""
    collisions = [0]
    real_rename = os.rename

    def counting_rename(source, target):
        try:
            real_rename(source, target)
        except OSError:
            collisions[0] += 1
            raise

    os.rename = counting_rename
    return collisions


def _sleep_until(start_at: float) -> None:
    while time.time() < start_at:
        time.sleep(min(0.01, max(0.0, start_at - time.time())))


def concurrent_exports(
    model_dir: str, base: str, processes: int, exports_each: int, start_in: float
) -> dict[str, Any]:
    """``processes`` forked processes, each exporting ``exports_each`` times in a row into
    one base, all starting at the same wall-clock moment, watched by a polling loader."""
    start_at = time.time() + start_in

    def body(say: Callable[[str], None]) -> dict[str, Any]:
        collisions = _count_rename_collisions()
        estimator = data.make_adam_estimator(model_dir)
        receivers = data.adam_receiver_map()
        _sleep_until(start_at)
        paths = [
            str(estimator_ext.export_all_saved_models(estimator, base, receivers))
            for _ in range(exports_each)
        ]
        return {"paths": paths, "rename_collisions": collisions[0], "started": start_at}

    watcher = _start_watcher(base)
    children = [_fork(body) for _ in range(processes)]
    outcomes = [_wait_child(pid, read_end) for pid, read_end in children]
    return {"outcomes": outcomes, "watcher": _stop_watcher(watcher)}


def publish_stress(
    base: str, processes: int, publishes_each: int, start_in: float
) -> dict[str, Any]:
    """Many processes publishing tiny prepared temporaries through ``publishing.publish`` at the
    same moment: each temporary holds one file naming it, so a lost or merged publish
    shows up as a missing or extra name."""
    start_at = time.time() + start_in

    def body(say: Callable[[str], None]) -> dict[str, Any]:
        collisions = _count_rename_collisions()
        temps = []
        for index in range(publishes_each):
            token = f"{os.getpid()}-{index}"
            temp = os.path.join(base, naming.temp_dir_name())
            os.makedirs(temp)
            with open(os.path.join(temp, token), "w") as handle:
                handle.write(token)
            temps.append((token, temp))
        _sleep_until(start_at)
        published = {token: publishing.publish(temp, base) for token, temp in temps}
        return {"published": published, "rename_collisions": collisions[0]}

    children = [_fork(body) for _ in range(processes)]
    return {"outcomes": [_wait_child(pid, read_end) for pid, read_end in children]}


def export_with_fsize_limit(
    model_dir: str,
    base: str,
    limit: int,
    modes: list[str],
    assets_extra: dict[str, str] | None,
    limit_after_variables: bool = False,
) -> dict[str, Any]:
    """One export in a child whose files may not grow beyond ``limit`` bytes
    (RLIMIT_FSIZE, with SIGXFSZ ignored so writes fail with EFBIG instead of killing).
    With ``limit_after_variables`` the limit starts once the variables are written, so
    that a later, smaller write (saved_model.pb) is what fails."""

    def body(say: Callable[[str], None]) -> str:
        from estimator_ext.export import write as export_write

        estimator = data.make_adam_estimator(model_dir)
        receivers = data.adam_receiver_map(modes)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        if limit_after_variables:
            real_write = export_write.write_variables

            def write_then_limit(*args, **kwargs):
                written = real_write(*args, **kwargs)
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
                return written

            export_write.write_variables = write_then_limit
        else:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
        return str(
            estimator_ext.export_all_saved_models(
                estimator, base, receivers, assets_extra=assets_extra
            )
        )

    pid, read_end = _fork(body)
    return _wait_child(pid, read_end)


def export_freezing_base_mid_export(model_dir: str, base: str) -> dict[str, Any]:
    """One export in a child whose PREDICT receiver fn makes the base immutable
    (``chattr +i``) after the variables and other graphs were written: publishing fails,
    and so does removing the temporary's entry from the base."""
    import subprocess

    def body(say: Callable[[str], None]) -> str:
        receivers = data.adam_receiver_map()
        serving = receivers[data.MK.PREDICT]

        def freezing_serving_receiver():
            subprocess.run(["chattr", "+i", base], check=True)
            return serving()

        receivers[data.MK.PREDICT] = freezing_serving_receiver
        return str(
            estimator_ext.export_all_saved_models(
                data.make_adam_estimator(model_dir), base, receivers
            )
        )

    pid, read_end = _fork(body)
    return _wait_child(pid, read_end)


REQUESTS = {
    "export_freezing_base_mid_export": export_freezing_base_mid_export,
    "kill_trials": kill_trials,
    "kill_points": kill_points,
    "start_live_export": start_live_export,
    "finish_live_export": finish_live_export,
    "export_once": export_once,
    "concurrent_exports": concurrent_exports,
    "publish_stress": publish_stress,
    "export_with_fsize_limit": export_with_fsize_limit,
    "ping": lambda: {"pid": os.getpid()},
}


def _warm_up(model_dir: str) -> None:
    """One export in this process, so forked children find TensorFlow's lazily built
    state ready and spend their time exporting (no session is opened here)."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        estimator_ext.export_all_saved_models(
            data.make_adam_estimator(model_dir), scratch, data.adam_receiver_map()
        )


def main() -> None:
    _warm_up(sys.argv[1])
    _ANSWERS.write(json.dumps({"ready": os.getpid()}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = {"result": REQUESTS[request["name"]](**request.get("args", {}))}
        except Exception as error:
            answer = {
                "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc(),
            }
        _ANSWERS.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
