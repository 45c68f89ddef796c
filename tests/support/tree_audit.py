"""Looking at directory trees and exports from the outside, as a loader or an auditor would.

* :func:`snapshot` records every entry under a root (type, size, content hash, mode and
  mtime), so a test can prove a tree is byte-for-byte unchanged.
* :func:`export_problems` is the structural check a version-polling loader (TF Serving)
  relies on: an integer-named directory holds a parseable SavedModel and every variables
  file it needs. It uses no TensorFlow session, so the worker process can run it between
  forks.
* :func:`load_every_mode` loads each tag set an export claims with the TF1 loader and
  compares the restored variables with the checkpoint.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Iterable

Entry = tuple

_SHARD = re.compile(r"^variables\.data-(\d+)-of-(\d+)$")


def snapshot(root: str, exclude: Iterable[str] = (), dir_mtimes: bool = True) -> dict[str, Entry]:
    """Relative path -> (kind, mode, size, hash, mtime_ns) of files, (kind, mode[, mtime_ns])
    of directories and link targets, for ``root`` and everything under it, without
    following symlinks. ``exclude``: absolute paths whose whole subtree is left out (e.g.
    the export base while auditing its surroundings). ``dir_mtimes=False`` ignores the
    mtimes of directories, which change when an entry is created and removed again (a
    failed export's temporary) although nothing is left."""
    excluded = {os.path.abspath(path) for path in exclude}
    entries: dict[str, Entry] = {}

    def visit(path: str) -> None:
        if os.path.abspath(path) in excluded:
            return
        info = os.lstat(path)
        relative = os.path.relpath(path, root)
        if stat.S_ISLNK(info.st_mode):
            entries[relative] = ("link", os.readlink(path))
        elif stat.S_ISDIR(info.st_mode):
            entries[relative] = ("dir", stat.S_IMODE(info.st_mode)) + (
                (info.st_mtime_ns,) if dir_mtimes else ()
            )
            for name in sorted(os.listdir(path)):
                visit(os.path.join(path, name))
        elif stat.S_ISREG(info.st_mode):
            with open(path, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            entries[relative] = (
                "file",
                stat.S_IMODE(info.st_mode),
                info.st_size,
                digest,
                info.st_mtime_ns,
            )
        else:
            entries[relative] = ("special", stat.S_IFMT(info.st_mode))

    if os.path.lexists(root):
        visit(root)
    return entries


def diff(before: dict[str, Entry], after: dict[str, Entry]) -> list[str]:
    """Human-readable differences between two snapshots (empty when identical)."""
    lines = [f"removed {path}" for path in sorted(set(before) - set(after))]
    lines += [f"added {path}" for path in sorted(set(after) - set(before))]
    lines += [
        f"changed {path}: {before[path]} -> {after[path]}"
        for path in sorted(set(before) & set(after))
        if before[path] != after[path]
    ]
    return lines


def integer_dirs(base: str) -> list[str]:
    """Names under ``base`` a version-polling loader treats as exports (all digits)."""
    if not os.path.isdir(base):
        return []
    return sorted((name for name in os.listdir(base) if name.isdigit()), key=int)


def export_problems(export_dir: str) -> list[str]:
    """What stops ``export_dir`` from being a complete SavedModel (empty when complete)."""
    from tensorflow.core.protobuf import saved_model_pb2

    if not os.path.isdir(export_dir) or os.path.islink(export_dir):
        return [f"{export_dir} is not a directory"]
    problems = []
    saved_model = saved_model_pb2.SavedModel()
    pb_path = os.path.join(export_dir, "saved_model.pb")
    pbtxt_path = os.path.join(export_dir, "saved_model.pbtxt")
    try:
        if os.path.exists(pb_path):
            with open(pb_path, "rb") as handle:
                saved_model.ParseFromString(handle.read())
        elif os.path.exists(pbtxt_path):
            from google.protobuf import text_format

            with open(pbtxt_path) as handle:
                text_format.Parse(handle.read(), saved_model)
        else:
            problems.append("no saved_model.pb")
    except Exception as error:  # a truncated file fails to parse
        problems.append(f"saved_model does not parse: {error!r}")
    if not problems and not saved_model.meta_graphs:
        problems.append("saved_model has no meta graphs")
    variables_dir = os.path.join(export_dir, "variables")
    names = set(os.listdir(variables_dir)) if os.path.isdir(variables_dir) else set()
    if "variables.index" not in names:
        problems.append("no variables/variables.index")
    shards = [_SHARD.match(name) for name in names]
    counts = {int(match.group(2)) for match in shards if match}
    if len(counts) != 1 or len([m for m in shards if m]) != next(iter(counts), -1):
        problems.append(f"variables data shards incomplete: {sorted(names)}")
    return problems


def meta_graph_tags(export_dir: str) -> list[tuple[str, ...]]:
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as handle:
        saved_model.ParseFromString(handle.read())
    return [tuple(meta_graph.meta_info_def.tags) for meta_graph in saved_model.meta_graphs]


def load_every_mode(export_dir: str, checkpoint_prefix: str | None = None) -> list[tuple[str, ...]]:
    """Loads each tag set the export claims with the TF1 loader; when a checkpoint is
    given, every restored variable that the checkpoint also holds must equal it.
    Returns the tag sets loaded."""
    import numpy as np
    import tensorflow as tf

    reader = tf.train.load_checkpoint(checkpoint_prefix) if checkpoint_prefix else None
    loaded = []
    for tags in meta_graph_tags(export_dir):
        with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
            tf.compat.v1.saved_model.loader.load(session, list(tags), export_dir)
            if reader is not None:
                variables = graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)
                values = session.run({variable.op.name: variable for variable in variables})
                for name, value in values.items():
                    if reader.has_tensor(name):
                        np.testing.assert_array_equal(
                            value, reader.get_tensor(name), err_msg=f"{tags} {name}"
                        )
        loaded.append(tags)
    return loaded
