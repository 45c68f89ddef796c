"""Issue 6, item 6: property-based tests over receiver maps and assets_extra mappings.

Hypothesis draws maps mixing valid and invalid mode keys and receiver fns, and
assets_extra mappings mixing valid, hostile and malformed destinations with sources of
every kind. For every draw:

* nothing is written outside ``export_dir_base`` (the sandbox around it, which is also
  the working directory, is snapshotted before and after);
* ``export_dir_base`` gains either exactly one complete integer-named export or nothing
  at all (no temporary, no partial directory);
* the call either returns that export or raises a clear error: ValueError or TypeError
  naming the argument (or, for a receiver fn that raises, that very exception);
* an oracle written from the documented rules says which draws must fail, and on
  success the export holds exactly the modes / files asked for.

Runs are reproducible (``derandomize=True``, no example database) and bounded
(``max_examples``; ``deadline=None`` because one export takes ~0.1-0.5 s).
"""

from __future__ import annotations

import os
import posixpath

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import estimator_ext
from tests.support import data, tree_audit

MK = data.MK

# The autouse fixtures (deadline, checkpoint guard) are function-scoped on purpose: they
# wrap the whole run of examples.
SETTINGS = dict(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class ReceiverFailure(Exception):
    """Raised by the 'raises' receiver fn."""


def _raise():
    raise ReceiverFailure("receiver fn failed")


SUPERVISED = data.adam_supervised_receiver_fn()
SERVING = data.adam_serving_receiver_fn()
RECEIVERS = {
    "supervised": SUPERVISED,
    "serving": SERVING,
    "none": None,
    "not-callable": "serving_input_fn",
    "returns-none": lambda: None,
    "returns-dict": lambda: {"x": 1.0},
    "raises": _raise,
}
VALID_KEYS = (MK.TRAIN, MK.EVAL, MK.PREDICT)


@pytest.fixture(scope="module")
def shared_estimator(model_dir):
    return data.make_adam_estimator(model_dir)


@pytest.fixture(scope="module")
def sandbox_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("properties")
    return str(root)


@pytest.fixture(scope="module")
def sources(sandbox_root):
    """One source of every kind, keyed by kind; values are what assets_extra gets."""
    root = os.path.join(sandbox_root, "sources")
    outside = os.path.join(sandbox_root, "outside")
    os.makedirs(os.path.join(root, "dir"))
    os.makedirs(outside)
    for name, content in (("file", "first file"), ("file2", "second file")):
        with open(os.path.join(root, name), "w") as handle:
            handle.write(content)
    with open(os.path.join(outside, "secret"), "w") as handle:
        handle.write("outside file")
    os.symlink(os.path.join(outside, "secret"), os.path.join(root, "link_outside"))
    os.symlink(outside, os.path.join(root, "link_outside_dir"))
    os.symlink(os.path.join(root, "gone"), os.path.join(root, "dangling"))
    os.mkfifo(os.path.join(root, "fifo"))
    paths = {
        kind: os.path.join(root, kind)
        for kind in ("file", "file2", "link_outside", "link_outside_dir", "dangling", "fifo", "dir")
    }
    paths.update(missing=os.path.join(root, "missing"), number=42, none=None)
    return paths


GOOD_SOURCES = {"file": "first file", "file2": "second file", "link_outside": "outside file"}


def _audit(sandbox_root: str, base: str):
    """Snapshot of the sandbox outside the base, and the base's entries."""
    outside = tree_audit.snapshot(sandbox_root, exclude=[base], dir_mtimes=False)
    return outside, sorted(os.listdir(base)) if os.path.isdir(base) else []


def _new_export(base: str, entries_before):
    """The one new entry in ``base``, which must be a complete integer-named export."""
    added = sorted(set(os.listdir(base)) - set(entries_before))
    assert len(added) == 1 and added[0].isdigit(), added
    export_dir = os.path.join(base, added[0])
    assert tree_audit.export_problems(export_dir) == []
    return export_dir


# --- receiver maps ------------------------------------------------------------------------


def _fitting_receivers(modes):
    return st.fixed_dictionaries(
        {
            mode: st.sampled_from(
                ["supervised", "serving"] if mode == MK.PREDICT else ["supervised"]
            )
            for mode in modes
        }
    )


# Half the draws are valid maps (a subset of modes, receivers that fit), half anything.
receiver_maps = st.one_of(
    st.sets(st.sampled_from(VALID_KEYS), min_size=1).flatmap(_fitting_receivers),
    st.dictionaries(
        keys=st.sampled_from(list(VALID_KEYS) + ["predict", "TRAIN", "", None, 0]),
        values=st.sampled_from(sorted(RECEIVERS)),
        max_size=4,
    ),
)


def _must_succeed(kinds_by_key) -> bool:
    if not kinds_by_key:
        return False
    for key, kind in kinds_by_key.items():
        if key not in VALID_KEYS:
            return False
        if kind == "supervised" or (kind == "serving" and key == MK.PREDICT):
            continue
        return False
    return True


@settings(max_examples=30, **SETTINGS)
@given(kinds_by_key=receiver_maps)
def test_receiver_maps_give_a_complete_export_or_a_clear_error(
    kinds_by_key, sandbox_root, shared_estimator, checkpoint_prefix
):
    """Any receiver map: a complete export of exactly its modes (each loading, with the
    checkpoint's values) when every key is a ModeKeys value with a receiver fit for it;
    otherwise a ValueError/TypeError naming input_receiver_fn_map (or the receiver's own
    exception), with nothing left in the base and nothing written around it."""
    base = os.path.join(sandbox_root, "receiver-maps")
    receivers = {key: RECEIVERS[kind] for key, kind in kinds_by_key.items()}
    outside_before, entries_before = _audit(sandbox_root, base)
    try:
        export = estimator_ext.export_all_saved_models(shared_estimator, base, receivers)
    except (ValueError, TypeError) as error:
        event(f"refused: {type(error).__name__}")
        assert "input_receiver_fn_map" in str(error), error
        succeeded = False
    except ReceiverFailure:
        event("receiver fn raised")
        assert "raises" in kinds_by_key.values()
        succeeded = False
    else:
        event("exported")
        succeeded = True
        export_dir = _new_export(base, entries_before)
        assert str(export) == export_dir
        expected_tags = sorted(data.TAGS_BY_MODE[mode] for mode in receivers)
        assert sorted(tree_audit.load_every_mode(export_dir, checkpoint_prefix)) == expected_tags
    assert succeeded == _must_succeed(kinds_by_key), kinds_by_key
    outside_after, entries_after = _audit(sandbox_root, base)
    assert tree_audit.diff(outside_before, outside_after) == []
    if not succeeded:
        assert entries_after == entries_before


# --- assets_extra mappings ----------------------------------------------------------------

GOOD_SEGMENTS = ["a", "b", "x.txt", "sub", "é", "n" * 200]
HOSTILE_SEGMENTS = ["..", ".", "", " ", "\\", "..\\..", "gs:", "n" * 300, "\ud800", "\x00", "a/"]
BAD_SOURCES = ["link_outside_dir", "dangling", "fifo", "dir", "missing", "number", "none"]

# A destination is mostly a path of 1-3 segments, each good (2 in 3) or hostile, so a
# single hostile segment in an otherwise valid mapping is a common draw; sometimes
# absolute; else arbitrary text, or not a string at all. Sources: good 3 times in 4.
segment_paths = st.builds(
    lambda leading_slash, segments: ("/" if leading_slash else "") + "/".join(segments),
    st.sampled_from([False, False, False, True]),
    st.lists(
        st.sampled_from([True, True, False]).flatmap(
            lambda good: st.sampled_from(GOOD_SEGMENTS if good else HOSTILE_SEGMENTS)
        ),
        min_size=1,
        max_size=3,
    ),
)
destinations = st.sampled_from(["path"] * 6 + ["text", "not-a-string"]).flatmap(
    lambda kind: {
        "path": segment_paths,
        "text": st.text(max_size=8),
        "not-a-string": st.sampled_from([1, None, b"bytes", ("a",)]),
    }[kind]
)
sources_kinds = st.sampled_from([True] * 3 + [False]).flatmap(
    lambda good: st.sampled_from(sorted(GOOD_SOURCES) if good else BAD_SOURCES)
)
assets_mappings = st.dictionaries(keys=destinations, values=sources_kinds, max_size=3)


def _must_fail(kinds_by_destination) -> bool:
    """Draws the documented rules refuse for certain (others may be refused too:
    duplicates after normalization, a file that is another's directory, ...)."""
    for destination, kind in kinds_by_destination.items():
        if kind not in GOOD_SOURCES or not isinstance(destination, str):
            return True
        normalized = posixpath.normpath(destination.replace("\\", "/"))
        if (
            not destination.strip()
            or "\x00" in destination
            or destination.replace("\\", "/").endswith("/")
        ):
            return True
        if (
            normalized.startswith("/")
            or normalized.split("/")[0] in ("..", ".")
            or "://" in destination
        ):
            return True
        try:
            if any(len(part.encode("utf-8")) > 255 for part in normalized.split("/")):
                return True
        except UnicodeEncodeError:
            return True
    return False


@settings(max_examples=200, **SETTINGS)
@given(kinds_by_destination=assets_mappings)
def test_assets_extra_mappings_never_write_outside_the_export(
    kinds_by_destination, sandbox_root, sources, shared_estimator
):
    """Any assets_extra mapping: a complete export whose assets.extra/ holds exactly one
    regular file per entry, at its normalized destination, with its source's content;
    or a ValueError/TypeError naming assets_extra, nothing left in the base. Never a
    write outside the base, never a symlink inside the export."""
    base = os.path.join(sandbox_root, "assets-extra")
    assets_extra = {
        destination: sources[kind] for destination, kind in kinds_by_destination.items()
    }
    outside_before, entries_before = _audit(sandbox_root, base)
    try:
        estimator_ext.export_all_saved_models(
            shared_estimator, base, data.adam_receiver_map([MK.TRAIN]), assets_extra=assets_extra
        )
    except (ValueError, TypeError) as error:
        event(f"refused: {type(error).__name__}")
        assert "assets_extra" in str(error), error
        assert _audit(sandbox_root, base)[1] == entries_before
    else:
        event("exported")
        assert not _must_fail(kinds_by_destination), kinds_by_destination
        export_dir = _new_export(base, entries_before)
        found = {}
        for directory, subdirs, files in os.walk(export_dir):
            for name in subdirs + files:
                assert not os.path.islink(os.path.join(directory, name))
        root = os.path.join(export_dir, "assets.extra")
        for directory, _, files in os.walk(root):
            for name in files:
                with open(os.path.join(directory, name)) as handle:
                    found[os.path.relpath(os.path.join(directory, name), root)] = handle.read()
        expected = {
            posixpath.normpath(destination.replace("\\", "/")): GOOD_SOURCES[kind]
            for destination, kind in kinds_by_destination.items()
        }
        assert found == expected
    assert tree_audit.diff(outside_before, _audit(sandbox_root, base)[0]) == []
