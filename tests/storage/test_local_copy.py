"""estimator_ext.storage.local_copy: the local-to-local copy of the variables and assets_extra,
on the real local filesystem: bytes, progress, both transfer loops, and the tf.errors
its failures raise (those TF's own copy raises for the same errno)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from estimator_ext.storage import local_copy

SIZE = 2 * local_copy.CHUNK_BYTES + 12_345  # two whole chunks and a partial one


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "source.bin"
    path.write_bytes(np.random.default_rng(20261203).bytes(SIZE))
    return path


def test_copies_every_byte_and_reports_each_chunk(source, tmp_path):
    destination = tmp_path / "copy.bin"
    counted = []
    local_copy.copy(str(source), str(destination), counted.append)
    assert destination.read_bytes() == source.read_bytes()
    assert counted == [local_copy.CHUNK_BYTES, local_copy.CHUNK_BYTES, 12_345]


def test_an_empty_file_copies_as_an_empty_file(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    counted = []
    local_copy.copy(str(tmp_path / "empty"), str(tmp_path / "copy"), counted.append)
    assert (tmp_path / "copy").read_bytes() == b"" and counted == []


def test_the_read_write_loop_copies_the_same_bytes(source, tmp_path):
    """The loop taken where copy_file_range is missing (macOS) or refused (EXDEV on
    some kernels, some file systems)."""
    destination = tmp_path / "copy.bin"
    counted = []
    source_fd = os.open(source, os.O_RDONLY)
    destination_fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        local_copy._transfer(source_fd, destination_fd, counted.append, kernel_copy=False)
    finally:
        os.close(source_fd)
        os.close(destination_fd)
    assert destination.read_bytes() == source.read_bytes()
    assert sum(counted) == SIZE and len(counted) == 3


@pytest.mark.parametrize("mode", [0o600, 0o755])
def test_the_copy_keeps_the_source_permission_bits(mode, source, tmp_path):
    """As TF's copy: a private file stays private, an executable stays executable."""
    source.chmod(mode)
    old_umask = os.umask(0o022)
    try:
        local_copy.copy(str(source), str(tmp_path / "copy.bin"))
    finally:
        os.umask(old_umask)
    assert (tmp_path / "copy.bin").stat().st_mode & 0o777 == mode


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="needs a second file system")
def test_a_copy_across_file_systems_takes_the_read_write_loop(tmp_path):
    """copy_file_range refuses (EXDEV on this kernel) before a byte is copied: the
    read/write loop copies the file instead, chunks still counted."""
    path = f"/dev/shm/estimator_ext-test-{os.getpid()}"
    data = np.random.default_rng(7).bytes(local_copy.CHUNK_BYTES + 99)
    with open(path, "wb") as handle:
        handle.write(data)
    try:
        counted = []
        local_copy.copy(path, str(tmp_path / "copy.bin"), counted.append)
    finally:
        os.remove(path)
    assert (tmp_path / "copy.bin").read_bytes() == data
    assert counted == [local_copy.CHUNK_BYTES, 99]


def test_a_file_that_reports_no_size_is_still_copied(tmp_path):
    """/proc files say they are empty; copy_file_range gives nothing (or EXDEV) for them,
    the read/write loop gives their contents, as TF's copy does."""
    if not os.path.exists("/proc/version"):
        pytest.skip("needs procfs")
    local_copy.copy("/proc/version", str(tmp_path / "version"))
    with open("/proc/version", "rb") as handle:
        assert (tmp_path / "version").read_bytes() == handle.read() != b""


def test_an_existing_destination_is_refused_and_kept(source, tmp_path):
    """AlreadyExistsError, as tf.io.gfile.copy(overwrite=False), and naming the file
    (TF's message says only "file already exists")."""
    destination = tmp_path / "taken.bin"
    destination.write_bytes(b"someone else's")
    with pytest.raises(tf.errors.AlreadyExistsError, match="taken.bin; File exists"):
        local_copy.copy(str(source), str(destination))
    assert destination.read_bytes() == b"someone else's"


def test_a_missing_source_is_a_not_found_error_and_creates_nothing(tmp_path):
    with pytest.raises(tf.errors.NotFoundError, match="gone.bin; No such file"):
        local_copy.copy(str(tmp_path / "gone.bin"), str(tmp_path / "copy.bin"))
    assert os.listdir(tmp_path) == []


def test_a_missing_destination_directory_is_a_not_found_error(source, tmp_path):
    missing = tmp_path / "no" / "copy.bin"
    with pytest.raises(tf.errors.NotFoundError, match=r"no/copy.bin; No such file"):
        local_copy.copy(str(source), str(missing))
    assert sorted(os.listdir(tmp_path)) == ["source.bin"]


def test_a_file_size_limit_is_an_out_of_range_error_naming_both_files(source, tmp_path):
    """RLIMIT_FSIZE below the file's size (SIGXFSZ ignored, so the write fails with
    EFBIG): TF's OutOfRangeError, "File too large", the destination and the source."""
    limit = local_copy.CHUNK_BYTES
    script = textwrap.dedent(
        f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, resource.RLIM_INFINITY))
        from estimator_ext.storage import local_copy
        try:
            local_copy.copy({str(source)!r}, {str(tmp_path / "copy.bin")!r})
        except Exception as error:
            print(type(error).__name__, error)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("OutOfRangeError ") and "File too large" in line, result
    assert f"copy.bin (copying {source})" in line


@pytest.mark.parametrize(
    "situation", ["missing source", "missing directory", "taken name", "directory in the way"]
)
def test_failures_raise_the_class_tf_io_gfile_copy_raises(situation, source, tmp_path):
    """The same situation through TF's own copy and ours: the same tf.errors class."""
    (tmp_path / "taken.bin").write_bytes(b"x")
    (tmp_path / "a_directory").mkdir()
    arguments = {
        "missing source": (tmp_path / "gone.bin", tmp_path / "out.bin"),
        "missing directory": (source, tmp_path / "no" / "out.bin"),
        "taken name": (source, tmp_path / "taken.bin"),
        "directory in the way": (source, tmp_path / "a_directory"),
    }[situation]
    raised = []
    for copier in (tf.io.gfile.copy, local_copy.copy):
        with pytest.raises(tf.errors.OpError) as error:
            copier(str(arguments[0]), str(arguments[1]))
        raised.append(type(error.value))
    assert raised[0] is raised[1], raised


def test_errno_values_map_to_the_errors_tf_raises():
    """One errno of each of TF's classes (ErrnoToCode), and an unlisted one."""
    import errno

    cases = {
        errno.EXDEV: tf.errors.UnimplementedError,
        errno.ETIMEDOUT: tf.errors.DeadlineExceededError,
        errno.ENOTEMPTY: tf.errors.FailedPreconditionError,
        errno.ERANGE: tf.errors.OutOfRangeError,
        errno.ECANCELED: tf.errors.CancelledError,
        errno.ESTALE: tf.errors.AbortedError,
        errno.ECONNRESET: tf.errors.UnavailableError,
        errno.ESPIPE: tf.errors.InvalidArgumentError,
        errno.ESRCH: tf.errors.NotFoundError,
        errno.EALREADY: tf.errors.AlreadyExistsError,
        errno.ENOSPC: tf.errors.ResourceExhaustedError,
        errno.EDQUOT: tf.errors.ResourceExhaustedError,
        errno.EACCES: tf.errors.PermissionDeniedError,
        errno.EROFS: tf.errors.PermissionDeniedError,
        errno.EIO: tf.errors.UnknownError,
    }
    for number, kind in cases.items():
        error = local_copy._tf_error(OSError(number, os.strerror(number)), "/x/y")
        assert type(error) is kind and error.message == f"/x/y; {os.strerror(number)}"
