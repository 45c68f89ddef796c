"""Every private TensorFlow name goes through the inventory, ``estimator_ext/_tf_private/``.

Private means: a ``tensorflow.python...`` or ``tensorflow_estimator.python...`` module (imported,
reached as an attribute, or spelled in ANY string literal, docstrings included, since strings
feed ``importlib``, ``sys.modules`` and post-import hooks), and a ``_``-prefixed attribute of
a TensorFlow object. Generated protos (``tensorflow.core.*_pb2``) and ``tf.*`` are public.

A ``_``-prefixed attribute cannot be traced to its owner's type statically, so the rule is an
allow-list that is sound for TF: ``obj._name`` (also ``getattr(obj, "_name")``, ``hasattr``,
``setattr``, ``delattr`` and ``obj.__dict__["_name"]``) is allowed only when

* ``obj`` is ``self``, ``cls`` or ``super()``;
* ``obj`` is a module of this package (``staging._remove_if_empty``: our own privacy, not TF's);
* or ``_name`` is an attribute this package itself defines on its own objects (a class body
  name, a ``self._name = ...`` target), or namedtuple's public ``_asdict``/``_replace``/...

Anything else (``estimator._call_model_fn``, ``variable._save_slice_info``,
``builder._has_saved_variables``) must be an accessor in ``_tf_private/members.py``.
"""

from __future__ import annotations

import ast
import pathlib
import re
from collections.abc import Iterator

import pytest

PACKAGE_DIR = pathlib.Path(__file__).resolve().parent.parent / "estimator_ext"
INVENTORY_DIR = PACKAGE_DIR / "_tf_private"
PRIVATE_MODULE = re.compile(r"\btensorflow(?:_estimator)?\.python\b")
ATTRIBUTE_FUNCTIONS = {"getattr", "hasattr", "setattr", "delattr"}
#: Underscore names that are public API (namedtuple's).
PUBLIC_UNDERSCORE_NAMES = {"_asdict", "_replace", "_fields", "_field_defaults", "_make"}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _package_modules() -> list[pathlib.Path]:
    return sorted(PACKAGE_DIR.rglob("*.py"))


def _own_attribute_names(trees: list[ast.AST]) -> set[str]:
    """Private attribute names the package defines on its own classes and objects."""
    names: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for statement in node.body:
                    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        names.add(statement.name)
                    elif isinstance(statement, ast.Assign):
                        names.update(t.id for t in statement.targets if isinstance(t, ast.Name))
                    elif isinstance(statement, ast.AnnAssign) and isinstance(
                        statement.target, ast.Name
                    ):
                        names.add(statement.target.id)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if (
                        isinstance(target, ast.Attribute)
                        and isinstance(target.value, ast.Name)
                        and target.value.id in ("self", "cls")
                    ):
                        names.add(target.attr)
    return {name for name in names if _is_private(name)}


def _package_module_aliases(tree: ast.AST) -> set[str]:
    """Names bound to modules of estimator_ext in one module."""
    package_modules = {path.stem for path in _package_modules()}
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] == "estimator_ext"
        ):
            aliases.update(a.asname or a.name for a in node.names if a.name in package_modules)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("estimator_ext.") and alias.asname:
                    aliases.add(alias.asname)
    return aliases


def _is_allowed_owner(owner: ast.AST, module_aliases: set[str]) -> bool:
    if isinstance(owner, ast.Name):
        return owner.id in ("self", "cls") or owner.id in module_aliases
    return (
        isinstance(owner, ast.Call)
        and isinstance(owner.func, ast.Name)
        and owner.func.id == "super"
    )


def _private_accesses(tree: ast.AST) -> Iterator[tuple[ast.AST, ast.AST, str]]:
    """(node, owner expression, attribute name) of every private attribute access."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            yield node, node.value, node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ATTRIBUTE_FUNCTIONS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _is_private(node.args[1].value)
        ):
            yield node, node.args[0], node.args[1].value
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "__dict__"
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
            and _is_private(node.slice.value)
        ):
            yield node, node.value.value, node.slice.value


def find_private_names(source: str, own_attributes: set[str]) -> list[str]:
    """Every private TensorFlow name in ``source``, as ``'line N: what'``."""
    tree = ast.parse(source)
    module_aliases = _package_module_aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = PRIVATE_MODULE.search(node.value)
            if match:
                found.append(f"line {node.lineno}: string mentions {match.group(0)}")
        elif isinstance(node, ast.Import):
            found.extend(
                f"line {node.lineno}: import {a.name}"
                for a in node.names
                if PRIVATE_MODULE.match(a.name)
            )
        elif isinstance(node, ast.ImportFrom) and node.module:
            if PRIVATE_MODULE.match(node.module):
                found.append(f"line {node.lineno}: from {node.module} import ...")
            elif node.module in ("tensorflow", "tensorflow_estimator"):
                found.extend(
                    f"line {node.lineno}: from {node.module} import python"
                    for a in node.names
                    if a.name == "python"
                )
        elif isinstance(node, ast.Attribute) and node.attr == "python":
            found.append(f"line {node.lineno}: attribute .python ({ast.unparse(node)})")
    for node, owner, name in _private_accesses(tree):
        if _is_allowed_owner(owner, module_aliases):
            continue
        if name in own_attributes or name in PUBLIC_UNDERSCORE_NAMES:
            continue
        found.append(f"line {node.lineno}: private attribute {ast.unparse(node)}")
    return found


def _own_attributes_of_package() -> set[str]:
    return _own_attribute_names([ast.parse(path.read_text()) for path in _package_modules()])


def test_no_private_tensorflow_name_outside_the_inventory():
    own_attributes = _own_attributes_of_package()
    offences = {}
    for path in _package_modules():
        if path.parent == INVENTORY_DIR:
            continue
        found = find_private_names(path.read_text(), own_attributes)
        if found:
            offences[str(path.relative_to(PACKAGE_DIR.parent))] = found
    assert not offences, (
        "private TensorFlow names outside estimator_ext/_tf_private/ (add an "
        f"accessor or a module-path constant there and use it): {offences}"
    )


def test_the_inventory_exists_and_is_where_the_private_names_are():
    members = (INVENTORY_DIR / "members.py").read_text()
    module_paths = (INVENTORY_DIR / "module_paths.py").read_text()
    assert find_private_names(module_paths, set()), "the module paths moved out of module_paths.py?"
    assert find_private_names(members, set()), "the private accessors moved out of members.py?"
    assert "import tensorflow" not in module_paths, "module_paths.py must stay TensorFlow-free"


FLAGGED = [
    ("from tensorflow.python.ops import array_ops", "from tensorflow.python.ops import"),
    ("import tensorflow.python.saved_model.loader_impl as loader", "import tensorflow.python"),
    ("import tensorflow_estimator.python.estimator", "import tensorflow_estimator.python"),
    ("from tensorflow import python", "import python"),
    ("x = tf.python.ops", "attribute .python"),
    (
        "sys.modules.get('tensorflow_estimator.python.estimator.api._v2.estimator')",
        "string mentions tensorflow_estimator.python",
    ),
    (
        "def f():\n    '''Wraps tensorflow.python.ops.array_ops.placeholder.'''",
        "string mentions tensorflow.python",
    ),
    ("label = f'{x}' + 'tensorflow.python.ops'", "string mentions"),
    ("estimator._call_model_fn(features, labels, mode, config)", "estimator._call_model_fn"),
    ("variable._save_slice_info.full_name", "variable._save_slice_info"),
    ("getattr(estimator, '_warm_start_settings', None)", "'_warm_start_settings'"),
    ("hasattr(builder, '_has_saved_variables')", "_has_saved_variables"),
    ("builder.__dict__['_has_saved_variables'] = True", "_has_saved_variables"),
    (
        "from estimator_ext.storage import staging\nsome_tf_object._remove_if_empty()",
        "_remove_if_empty",
    ),
]

ALLOWED = [
    "self._changes.append(change)",
    "cls._registry = {}",
    "super()._setup()",
    "from estimator_ext.storage import staging\nstaging._remove_if_empty('d')",
    "import estimator_ext.storage.staging as staging_module\nstaging_module._remove_if_empty('d')",
    "record._own_attribute",  # defined by the package (see own_attributes below)
    "from tensorflow.core.protobuf import saved_model_pb2",
    "import tensorflow as tf\ntf.compat.v1.saved_model.Builder",
    "row._asdict()",
    "'tensorflow.contrib.estimator'",  # the namespace estimator_ext itself creates
    "value.__wrapped__",
]


@pytest.mark.parametrize("source, expected", FLAGGED)
def test_the_rule_flags_private_names(source, expected):
    found = find_private_names(source, {"_own_attribute"})
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize("source", ALLOWED)
def test_the_rule_allows_public_and_own_names(source):
    assert find_private_names(source, {"_own_attribute"}) == []


def test_own_attributes_are_read_from_class_bodies_and_self_assignments():
    source = (
        "class A:\n    _slot = 1\n    def _method(self):\n        self._state = 2\n"
        "def outside():\n    other._not_ours = 3\n"
    )
    assert _own_attribute_names([ast.parse(source)]) == {"_slot", "_method", "_state"}
