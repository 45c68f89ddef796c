"""Unit tests of estimator_ext._fs: temporary names, publishing, cleanup of created
directories and assets.extra planning, on the real local filesystem.

The adversarial versions (kills, races between processes, write failures, fuzzing)
are in tests/reliability/.
"""

from __future__ import annotations

import errno
import os
import pathlib
import socket
import time

import pytest

from estimator_ext.export import assets_extra as assets_extra_files
from estimator_ext.storage import copy_publish, staging
from estimator_ext.storage import names as naming
from estimator_ext.storage import publish as publishing
from estimator_ext.storage.files import gfile


def test_temp_dir_names_are_hidden_unique_and_say_who_writes_them():
    """Never integer-like (a loader would take it for an export), hidden, distinct on
    every call (threads of one process share time and pid), and parseable back to the
    start time, host and pid that clean_stale_temporaries relies on."""
    names = {naming.temp_dir_name() for _ in range(200)}
    assert len(names) == 200
    for name in names:
        assert name.startswith(".") and not name.isdigit()
        parsed = naming.parse_temp_dir_name(name)
        assert parsed == naming.TempDirName(parsed.started, naming.host_label(), os.getpid())
        assert abs(parsed.started - time.time()) < 60


def test_host_names_with_dashes_still_parse(monkeypatch):
    """Dashes separate the name's fields, so a host's own dashes are replaced."""
    monkeypatch.setattr(socket, "gethostname", lambda: "worker-7-abc")
    parsed = naming.parse_temp_dir_name(naming.temp_dir_name())
    assert parsed.host == "worker_7_abc" and parsed.pid == os.getpid()


def test_claim_names_parse_and_are_not_temporaries():
    """Claim files carry the candidate integer and the same writer fields."""
    name = f"{naming.CLAIM_PREFIX}1700000000-{naming.writer_fields()}"
    assert naming.parse_claim_name(name).pid == os.getpid()
    assert naming.parse_temp_dir_name(name) is None and not name.isdigit()
    assert naming.parse_claim_name(naming.temp_dir_name()) is None


@pytest.mark.parametrize(
    "name",
    [
        "1700000000",
        "temp-1700000000",
        ".estimator_ext-tmp-",
        ".estimator_ext-tmp-1-h-2",
        ".estimator_ext-tmp-1-h-2-XYZ",
        ".estimator_ext-tmp-a-h-2-ab",
        "x.estimator_ext-tmp-1-h-2-ab",
    ],
)
def test_other_names_are_not_temporaries(name):
    assert naming.parse_temp_dir_name(name) is None


def _temp_with(base, content: str) -> str:
    temp = os.path.join(base, naming.temp_dir_name())
    os.makedirs(temp)
    with open(os.path.join(temp, "content"), "w") as handle:
        handle.write(content)
    return temp


def test_publish_takes_the_first_free_integer_from_now(tmp_path):
    """Existing names (a non-empty export, an empty directory, a file) are skipped; the
    temporary becomes the first free integer at or after the current second."""
    base = str(tmp_path)
    now = int(time.time())
    for offset, kind in enumerate(("export", "empty", "file")):
        path = os.path.join(base, str(now + offset))
        if kind == "file":
            open(path, "w").close()
        else:
            os.makedirs(path)
            if kind == "export":
                open(os.path.join(path, "saved_model.pb"), "w").close()
    temp = _temp_with(base, "mine")
    export_dir = publishing.publish(temp, base)
    assert int(os.path.basename(export_dir)) >= now + 3
    assert os.listdir(export_dir) == ["content"] and not os.path.exists(temp)
    assert os.listdir(os.path.join(base, str(now))) == ["saved_model.pb"]


def test_publish_moves_on_when_another_export_takes_the_name_during_the_rename(
    tmp_path, monkeypatch
):
    """The race the existence check cannot close: another process publishes under the
    same integer between the check and our rename. The OS refuses to rename onto its
    non-empty directory (ENOTEMPTY/EEXIST), and publish takes the next integer; both
    exports stay whole. (The competitor's rename is a real one, made at that moment.)"""
    base = str(tmp_path)
    competitor = _temp_with(base, "theirs")
    mine = _temp_with(base, "mine")
    real_rename = os.rename
    raced = []

    def rename_after_competitor(source, target):
        if not raced:
            raced.append(target)
            real_rename(competitor, target)
        try:
            real_rename(source, target)
        except OSError as error:
            raced.append(error.errno)
            raise

    monkeypatch.setattr(os, "rename", rename_after_competitor)
    export_dir = publishing.publish(mine, base)
    monkeypatch.undo()
    assert raced[1] in (errno.ENOTEMPTY, errno.EEXIST)
    assert int(os.path.basename(export_dir)) == int(os.path.basename(raced[0])) + 1
    assert pathlib.Path(raced[0], "content").read_text() == "theirs"
    assert pathlib.Path(export_dir, "content").read_text() == "mine"


def test_publish_raises_other_rename_errors(tmp_path):
    """Errors other than "name taken" (here: the temporary is gone) propagate."""
    with pytest.raises(FileNotFoundError):
        publishing.publish(str(tmp_path / (naming.TEMP_PREFIX + "missing")), str(tmp_path))


def test_publish_flushes_read_only_files(tmp_path):
    """Files are fsynced before the rename; a read-only file (as a hard-linked checkpoint
    file may be) is opened read-only for that and publishes fine."""
    temp = _temp_with(str(tmp_path), "x")
    os.chmod(os.path.join(temp, "content"), 0o444)
    export_dir = publishing.publish(temp, str(tmp_path))
    assert os.listdir(export_dir) == ["content"]


def test_remove_created_dirs_removes_only_what_is_still_empty(tmp_path):
    """Innermost first, each only while empty: a directory another export wrote into
    in the meantime stops the removal there, keeping its content and its parents."""
    created = [str(tmp_path / "a"), str(tmp_path / "a" / "b"), str(tmp_path / "a" / "b" / "c")]
    os.makedirs(created[-1])
    staging.remove_created_dirs(created)
    assert not os.path.exists(created[0])

    os.makedirs(created[-1])
    open(os.path.join(created[1], "someone-elses-export"), "w").close()
    staging.remove_created_dirs(created)
    assert not os.path.exists(created[2])
    assert os.listdir(created[1]) == ["someone-elses-export"]


def test_missing_ancestors_lists_outermost_first(tmp_path):
    path = str(tmp_path / "x" / "y" / "z")
    assert staging.missing_ancestors(path) == [str(tmp_path / "x"), str(tmp_path / "x" / "y"), path]
    assert staging.missing_ancestors(str(tmp_path)) == []


def test_assets_extra_plan_normalizes_and_copy_nests(tmp_path):
    """Destinations come back normalized in the given order; copying creates the nested
    directories inside assets.extra/ and copies content, never links."""
    source = tmp_path / "words.txt"
    source.write_text("words")
    link = tmp_path / "link.txt"
    os.symlink(source, link)
    plan = assets_extra_files.plan_assets_extra(
        {"vocab/./words.txt": str(source), "a\\b.txt": str(link)}
    )
    assert plan == [("vocab/words.txt", str(source)), ("a/b.txt", str(link))]
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    assets_extra_files.copy_assets_extra(plan, str(export_dir))
    for relative in ("vocab/words.txt", "a/b.txt"):
        copied = export_dir / "assets.extra" / relative
        assert copied.read_text() == "words" and not copied.is_symlink()
    assert (
        assets_extra_files.plan_assets_extra(None) == []
        and assets_extra_files.plan_assets_extra({}) == []
    )


# --- export_dir_base: one rule for every function that takes it ---------------------------


@pytest.mark.parametrize("function", ["export_all_saved_models", "clean_stale_temporaries"])
def test_export_dir_base_rule_accepts_str_bytes_and_paths(tmp_path, function):
    """str, UTF-8 bytes (TF's own export functions return bytes paths) and os.PathLike,
    missing or an existing directory; trailing slashes go, except from roots."""
    base = str(tmp_path / "exports")
    for given in (base, base.encode("utf-8"), tmp_path / "exports", base + "/", base + "//"):
        assert staging.check_export_dir_base(given, function) == base
    assert staging.check_export_dir_base(str(tmp_path), function) == str(tmp_path)
    assert staging.check_export_dir_base("/", function) == "/"
    assert staging.check_export_dir_base("ram://", function) == "ram://"
    assert staging.check_export_dir_base("ram://exports/", function) == "ram://exports"
    assert not os.path.exists(base)  # checking creates nothing


@pytest.mark.parametrize("function", ["export_all_saved_models", "clean_stale_temporaries"])
@pytest.mark.parametrize("value", [None, 123, "", "   ", b"", ["exports"]])
def test_export_dir_base_rule_refuses_what_is_not_a_path(function, value):
    with pytest.raises(TypeError) as raised:
        staging.check_export_dir_base(value, function)
    message = str(raised.value)
    assert message.startswith(f"{function}: export_dir_base must be a non-empty directory path")
    assert f"received {value!r}" in message and "e.g. 'exports/'" in message


def test_export_dir_base_rule_refuses_an_existing_file(tmp_path):
    a_file = tmp_path / "exports"
    a_file.write_text("not a directory")
    for function in ("export_all_saved_models", "clean_stale_temporaries"):
        with pytest.raises(
            ValueError, match=rf"^{function}: export_dir_base='.*exports' is a file; "
        ):
            staging.check_export_dir_base(str(a_file), function)
    assert a_file.read_text() == "not a directory" and os.listdir(tmp_path) == ["exports"]


def test_clean_stale_temporaries_takes_the_same_rule(tmp_path):
    """A file given as export_dir_base is an error, not "nothing to clean"; bytes work."""
    import estimator_ext

    a_file = tmp_path / "exports"
    a_file.write_text("not a directory")
    with pytest.raises(ValueError, match="clean_stale_temporaries: export_dir_base=.* is a file"):
        estimator_ext.clean_stale_temporaries(str(a_file), older_than=0)
    assert a_file.read_text() == "not a directory"
    stale = (
        tmp_path / "base" / f"{naming.TEMP_PREFIX}1700000000-{naming.host_label()}-999999999-ab12"
    )
    stale.mkdir(parents=True)
    removed = estimator_ext.clean_stale_temporaries(str(tmp_path / "base").encode(), older_than=0)
    assert removed == [str(stale)] and os.listdir(tmp_path / "base") == []


def test_remove_if_empty_keeps_what_is_not_empty(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    (tmp_path / "empty").mkdir()
    assert staging.remove_if_empty(str(tmp_path / "full")) is False
    assert staging.remove_if_empty(str(tmp_path / "empty")) is True
    assert staging.remove_if_empty(str(tmp_path / "never")) is True
    assert sorted(os.listdir(tmp_path)) == ["full"] and os.listdir(tmp_path / "full") == ["file"]


def test_a_staged_listing_without_the_variables_is_refused(tmp_path):
    """A store that answers a listing incompletely (seen with tensorflow-io 0.32 under
    faults) must not get an export without variables published: the listing is refused
    as a store failure, which call_store retries and then reports."""
    import tensorflow as tf

    staged = tmp_path / "staged"
    (staged / "variables").mkdir(parents=True)
    (staged / "saved_model.pb").write_bytes(b"pb")
    with pytest.raises(tf.errors.UnavailableError) as raised:
        copy_publish._staged_files(str(staged))
    assert "lacks variables/variables.index, variables/variables.data-*" in raised.value.message
    assert "named 1 file(s)" in raised.value.message
    (staged / "variables" / "variables.index").write_bytes(b"i")
    (staged / "variables" / "variables.data-00000-of-00001").write_bytes(b"d")
    assert sorted(relative for relative, _ in copy_publish._staged_files(str(staged))) == [
        "saved_model.pb",
        "variables/variables.data-00000-of-00001",
        "variables/variables.index",
    ]


def test_walk_files_raises_on_a_directory_it_cannot_list(tmp_path):
    import tensorflow as tf

    with pytest.raises(tf.errors.NotFoundError):
        list(gfile.walk_files(str(tmp_path / "missing")))
