"""The import hook: the stand-ins answer only where TensorFlow lacks the module.

On TensorFlow 2.12-2.15 it must never engage (TensorFlow's own modules are imported, and
``tf_export`` keeps its own ``ESTIMATOR_API_NAME``); on 2.16+ the four deleted modules are the
stand-ins, holding exactly the names tensorflow-estimator 2.15.0 takes from them.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import pathlib
import sys
import textwrap

from estimator_ext._tf_private import import_hook, module_paths, removed_modules
from tests.newest_tf.support import only_builtin, only_newest, run_fresh_python


def _names_tensorflow_estimator_takes() -> dict[str, set[str]]:
    """Deleted module -> every name tensorflow-estimator's installed source takes from it
    (``from M import N`` and ``alias.N`` where ``alias`` is the module imported), read by AST."""
    package = pathlib.Path(importlib.util.find_spec("tensorflow_estimator").origin).parent
    taken: dict[str, set[str]] = {name: set() for name in module_paths.REMOVED_MODULES}
    for path in package.rglob("*.py"):
        if path.name.endswith("_test.py"):
            continue
        tree = ast.parse(path.read_text())
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in taken:
                        aliases[alias.asname or alias.name] = full
                    elif node.module in taken:
                        taken[node.module].add(alias.name)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
            ):
                taken[aliases[node.value.id]].add(node.attr)
    return taken


def test_each_stand_in_has_exactly_the_names_tensorflow_estimator_takes():
    taken = _names_tensorflow_estimator_takes()
    assert all(taken.values()), taken  # the AST reading found every module's names
    for module_name, names in taken.items():
        stand_in = removed_modules.NAMES_BY_MODULE[module_name](module_name)
        assert set(stand_in) == names, module_name


def test_the_finder_is_last_on_the_meta_path_and_answers_only_the_deleted_names():
    """After ``import estimator_ext`` it is the last finder (test below); finders appended
    later (six's) may follow it, but it always comes after the standard PathFinder."""
    finder = import_hook.installed_finder()
    # PathFinder sits on the meta path as a class, the other finders as instances.
    positions = [getattr(entry, "__name__", type(entry).__name__) for entry in sys.meta_path]
    assert positions.index("StandInFinder") > positions.index("PathFinder")
    assert finder.find_spec("tensorflow.python.ops.array_ops") is None
    assert finder.find_spec("numpy") is None
    for name in module_paths.REMOVED_MODULES:
        spec = finder.find_spec(name)
        assert spec.origin == import_hook.STAND_IN_ORIGIN and spec.loader is finder
    import_hook.install()  # idempotent
    assert sum(type(entry).__name__ == "StandInFinder" for entry in sys.meta_path) == 1


@only_builtin
def test_on_tensorflow_2_15_the_hook_never_engages(tmp_path):
    """A fresh interpreter imports estimator_ext, then all of tensorflow-estimator: every
    deleted-elsewhere module is TensorFlow's own file, tf_export's API name is TensorFlow's,
    and no canned estimator class was touched."""
    code = textwrap.dedent(
        """
        import importlib, json, sys
        import estimator_ext
        import tensorflow as tf
        import tensorflow_estimator
        tf.estimator.LinearClassifier, tf.estimator.DNNClassifier
        from estimator_ext._tf_private import import_hook, module_paths, removed_modules
        origins = {name: importlib.import_module(name).__spec__.origin
                   for name in module_paths.REMOVED_MODULES}
        tf_export = importlib.import_module(module_paths.TF_EXPORT_MODULE)
        touched = [
            f"{module}.{name}"
            for module, names in module_paths.KERAS_CANNED_CLASSES_BY_MODULE.items()
            for name in names
            if hasattr(getattr(sys.modules[module], name).__init__, "refuses_under_keras_3")
        ]
        print(json.dumps({
            "stand_ins": sorted(import_hook.stand_in_modules()),
            "origins": origins,
            "api_name_added": removed_modules.add_estimator_api_name(tf_export),
            "touched": touched,
        }))
        """
    )
    result = run_fresh_python(code, str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["stand_ins"] == [] and report["touched"] == []
    assert report["api_name_added"] is False
    for name, origin in report["origins"].items():
        assert origin.endswith(name.replace(".", "/") + ".py"), (name, origin)


@only_newest
def test_on_tensorflow_2_16_and_later_the_stand_ins_make_tensorflow_estimator_importable():
    import tensorflow_estimator  # noqa: F401  (conftest's import of estimator_ext came first)

    stand_ins = import_hook.stand_in_modules()
    assert sorted(stand_ins) == sorted(module_paths.REMOVED_MODULES)
    tf_export = importlib.import_module(module_paths.TF_EXPORT_MODULE)
    assert tf_export.ESTIMATOR_API_NAME == "estimator"
    assert tf_export.API_ATTRS["estimator"].names == "_estimator_api_names"
    assert tf_export.API_ATTRS_V1["estimator"].names == "_estimator_api_names_v1"
    assert removed_modules.add_estimator_api_name(tf_export) is False  # added once


@only_newest
def test_without_estimator_ext_tensorflow_estimator_does_not_import(tmp_path):
    """What the stand-ins are for: plain TensorFlow 2.16+ cannot import it (issue 23)."""
    result = run_fresh_python("import tensorflow_estimator", str(tmp_path))
    assert result.returncode == 1
    assert "cannot import name 'estimator_training'" in result.stderr


def test_importing_estimator_ext_installs_the_hook_without_importing_tensorflow(tmp_path):
    code = (
        "import sys, estimator_ext\n"
        "from estimator_ext._tf_private import import_hook\n"
        "print(type(sys.meta_path[-1]).__name__, 'tensorflow' in sys.modules)\n"
    )
    result = run_fresh_python(code, str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["StandInFinder", "False"]
