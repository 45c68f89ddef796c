"""The storage boundary: outside ``estimator_ext/storage/`` no module touches a file but through it.

Issue #20 item 2: every file operation goes through the storage layer, so that each
store's quirks (bounded calls, retries, client defaults, no atomic rename) apply to all
of them. Checked by AST on every module of the package outside ``estimator_ext/storage/``;
a module offends when it has any of:

1. TensorFlow's file API: an attribute chain ending in ``.gfile`` whose root is a name
   bound to TensorFlow by an import (``tf.io.gfile``, ``tensorflow.io.gfile``,
   ``tf.compat.v1.gfile``, ``v1.gfile`` after ``from tensorflow.compat import v1``), or
   an import of a module path through ``gfile`` (``from tensorflow.io import gfile``,
   ``import tensorflow.io.gfile``, ``from tensorflow.python.platform import gfile``);
2. the name ``GFile`` anywhere (``gfile.GFile``, ``tf.io.gfile.GFile``, an imported
   ``GFile``): use ``storage.files.gfile.open`` / ``read_bytes`` and the ``File`` type;
3. TensorFlow's TFRecord file I/O, ``TFRecordWriter`` or ``tf_record_iterator`` (they open
   store paths): use ``gfile.write_records`` / ``gfile.read_records``;
4. a call that writes, removes, renames or opens a file through the OS, which would
   miss a store URL and skip fsync/claims: builtin ``open(...)``, ``os.{rename, replace,
   remove, unlink, rmdir, removedirs, makedirs, mkdir, open, fsync, copy_file_range}``,
   ``shutil.{rmtree, move, copy, copy2, copyfile, copytree}``.

Allowed outside storage: read-only local probes (``os.stat``, ``os.path.*``) on paths
that are local by construction (the CLI's script file, a local ``assets_extra`` source's
mode, the size of a local destination as it grows), and TensorFlow's own writers and
loaders that take a path (``SavedModelBuilder``, ``Saver``, ``SaveV2``,
``saved_model.loader.load``): TensorFlow makes those calls, on a store whose client the
layer has prepared by its first call on the export's path.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE_DIR = pathlib.Path(__file__).resolve().parent.parent.parent / "estimator_ext"
STORAGE_DIR = PACKAGE_DIR / "storage"

_OS_FILE_CALLS = {
    "os": {
        "rename",
        "replace",
        "remove",
        "unlink",
        "rmdir",
        "removedirs",
        "makedirs",
        "mkdir",
        "open",
        "fsync",
        "copy_file_range",
    },
    "shutil": {"rmtree", "move", "copy", "copy2", "copyfile", "copytree"},
}
_TF_RECORD_IO = {"TFRecordWriter", "tf_record_iterator"}


def _chain(node: ast.AST) -> list[str] | None:
    """``["tf", "io", "gfile"]`` for ``tf.io.gfile``; None when the root is not a name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def _tensorflow_names(tree: ast.AST) -> set[str]:
    """Names an import binds to TensorFlow or one of its modules."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "tensorflow":
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tensorflow":
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def offences(source: str) -> list[str]:
    """Each breach of the module doc's rules in ``source``, as ``line: what``."""
    tree = ast.parse(source)
    tensorflow_names = _tensorflow_names(tree)
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found += [
                f"{line}: import {alias.name}"
                for alias in node.names
                if alias.name.startswith("tensorflow") and "gfile" in alias.name.split(".")
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tensorflow"):
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                if "gfile" in dotted.split(".") or alias.name == "GFile":
                    found.append(f"{line}: from {node.module} import {alias.name}")
        elif isinstance(node, ast.Attribute):
            chain = _chain(node)
            if node.attr == "gfile" and chain and chain[0] in tensorflow_names:
                found.append(f"{line}: {'.'.join(chain)}")
            elif node.attr == "GFile" or node.attr in _TF_RECORD_IO:
                found.append(f"{line}: {ast.unparse(node)}")
        elif isinstance(node, ast.Name) and (node.id == "GFile" or node.id in _TF_RECORD_IO):
            found.append(f"{line}: {node.id}")
        elif isinstance(node, ast.Call):
            chain = _chain(node.func)
            if chain == ["open"]:
                found.append(f"{line}: open(...)")
            elif chain and len(chain) == 2 and chain[1] in _OS_FILE_CALLS.get(chain[0], ()):
                found.append(f"{line}: {'.'.join(chain)}(...)")
    return sorted(set(found), key=lambda text: int(text.split(":")[0]))


def _modules_outside_storage() -> list[pathlib.Path]:
    return [path for path in sorted(PACKAGE_DIR.rglob("*.py")) if STORAGE_DIR not in path.parents]


def test_no_module_outside_storage_touches_files_but_through_it():
    found = {
        str(path.relative_to(PACKAGE_DIR.parent)): breaches
        for path in _modules_outside_storage()
        if (breaches := offences(path.read_text()))
    }
    assert not found, (
        "file operations outside estimator_ext/storage/ (use estimator_ext.storage.files.gfile, "
        f"copying, staging or publish instead; this test's docstring has the rule): {found}"
    )


def test_the_check_sees_the_modules_outside_storage_and_none_inside():
    names = {path.relative_to(PACKAGE_DIR).as_posix() for path in _modules_outside_storage()}
    expected = {"variables/bundle_subset.py", "serving/saved_model_file.py", "cli/warmup_file.py"}
    assert expected <= names
    assert not any(name.startswith("storage/") for name in names)
    # the layer itself is where these calls live
    assert offences((STORAGE_DIR / "store.py").read_text())


@pytest.mark.parametrize(
    "source",
    [
        "import tensorflow as tf\ntf.io.gfile.exists('s3://b/x')",
        "import tensorflow\ntensorflow.io.gfile.makedirs('x')",
        "import tensorflow as tf\nf = tf.compat.v1.gfile.Open",
        "from tensorflow.compat import v1\nv1.gfile.Exists('x')",
        "from tensorflow.io import gfile\n",
        "import tensorflow.io.gfile\n",
        "from tensorflow.python.platform import gfile\n",
        "from estimator_ext.storage.files import gfile\ngfile.GFile('x')",
        "import tensorflow as tf\nhandle: tf.io.gfile.GFile",
        "import tensorflow as tf\nwith tf.io.TFRecordWriter('x') as w: pass",
        "import tensorflow as tf\nlist(tf.compat.v1.io.tf_record_iterator('x'))",
        "with open('exports/1/saved_model.pb', 'rb') as f: pass",
        "import os\nos.rename('a', 'b')",
        "import os\nos.makedirs('a')",
        "import shutil\nshutil.rmtree('a')",
    ],
)
def test_the_rule_refuses(source):
    assert offences(source), source


@pytest.mark.parametrize(
    "source",
    [
        "from estimator_ext.storage.files import gfile\ngfile.exists('s3://b/x')",
        "from estimator_ext.storage.files import File, gfile\nh: File = gfile.open('x')",
        "from estimator_ext.storage import files\nfiles.gfile.read_bytes('x')",
        "import os\nos.stat('script.py').st_mode\nos.path.isdir('script')",
        "import tensorflow as tf\ntf.io.parse_example",
        "import shutil\nshutil.get_terminal_size()",
    ],
)
def test_the_rule_allows(source):
    assert not offences(source), offences(source)
