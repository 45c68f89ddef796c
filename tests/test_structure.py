"""The package's shape: module size, import direction and the public API, checked by AST.

issue #20's rules, enforced here so that they hold as the package grows:

* no module exceeds :data:`MAX_LINES` lines;
* there are no import cycles among the package's modules, counting imports made inside
  functions (they run too, only later); imports under ``if TYPE_CHECKING:`` never run and
  do not count;
* no private module imports a public one. Public modules are :data:`PUBLIC_MODULES` (the
  package itself, ``__main__``, ``inspect``, ``mixin``, ``exporter``, ``patching`` and
  ``cli``); everything else is private. Importing a submodule runs its package's
  ``__init__``, so an import of ``estimator_ext.a.b`` counts as an import of ``a.b`` only,
  not of ``a``;
* imports run one way, down the stages of an export (:data:`STAGE_RANK`): ``cli`` ->
  ``patching``, ``exporter``, ``mixin``, ``inspect`` -> ``export`` -> ``variables``,
  ``serving`` -> ``storage`` -> ``_tf_private`` -> the TensorFlow-free bottom
  (``_versions``, ``_mode_names``). A module imports its own stage or a lower one; the package's
  ``__init__`` (which loads every public name lazily) is the one exception;
* the public API is exactly what :data:`PUBLIC_API` lists.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys
import textwrap

PACKAGE_DIR = pathlib.Path(__file__).resolve().parent.parent / "estimator_ext"
MAX_LINES = 400
PUBLIC_MODULES = {
    "estimator_ext",
    "estimator_ext.__main__",
    "estimator_ext.cli",
    "estimator_ext.exporter",
    "estimator_ext.inspect",
    "estimator_ext.mixin",
    "estimator_ext.patching",
}
PUBLIC_API = [
    "AllModesExporter",
    "ExportPlan",
    "ExportResult",
    "MultiExportMixin",
    "SupervisedInputReceiver",
    "build_raw_supervised_input_receiver_fn",
    "build_supervised_input_receiver_fn_from_input_fn",
    "clean_stale_temporaries",
    "convert_serve_only",
    "export_all_saved_models",
    "multi_export",
    "patch",
    "patched",
    "plan_export",
    "unpatch",
]


#: Each stage (the first name below ``estimator_ext``) and its rank: higher imports lower.
STAGE_RANK = {
    "_versions": 0,
    "_mode_names": 0,
    "_tf_private": 1,
    "storage": 2,
    "variables": 3,
    "serving": 3,
    "export": 4,
    "patching": 5,
    "exporter": 5,
    "mixin": 5,
    "inspect": 5,
    "cli": 6,
    "__main__": 7,
}


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def _is_type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if _is_type_checking_block(node):
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def imported_modules(module: str) -> set[str]:
    """The package's modules that ``module`` imports, at any depth of its code."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    imported: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            # `from package import name`: name is a submodule, or an attribute of package.
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
                for alias in node.names
            ]
        imported.update(target for target in targets if target in MODULES and target != module)
    return imported


def import_graph() -> dict[str, set[str]]:
    return {module: imported_modules(module) for module in MODULES}


def test_every_module_is_at_most_400_lines():
    too_long = {
        name: length
        for name, path in MODULES.items()
        if (length := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not too_long, f"modules over {MAX_LINES} lines (split them by job): {too_long}"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_no_import_cycles_counting_imports_inside_functions():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path):
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_private_module_imports_a_public_one():
    offences = {
        module: sorted(targets & PUBLIC_MODULES)
        for module, targets in import_graph().items()
        if module not in PUBLIC_MODULES and targets & PUBLIC_MODULES
    }
    assert not offences, (
        "private modules importing public ones (move what they need into a private module "
        f"and let the public face re-export it): {offences}"
    )


def stage_of(module: str) -> str:
    return module.split(".")[1]


def test_every_module_belongs_to_a_stage():
    unplaced = sorted(
        module
        for module in MODULES
        if module != "estimator_ext" and stage_of(module) not in STAGE_RANK
    )
    assert not unplaced, f"add these to STAGE_RANK (and docs/README.md's map): {unplaced}"


def test_imports_run_down_the_stages():
    upward = {
        module: sorted(
            target
            for target in targets
            if stage_of(target) != stage_of(module)
            and STAGE_RANK[stage_of(target)] >= STAGE_RANK[stage_of(module)]
        )
        for module, targets in import_graph().items()
        if module != "estimator_ext"
    }
    upward = {module: targets for module, targets in upward.items() if targets}
    assert not upward, f"imports against the stages' direction: {upward}"


def test_the_public_api_is_exactly_the_declared_one():
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import json, sys
                import estimator_ext
                import estimator_ext.inspect, estimator_ext.cli
                print(json.dumps({
                    "all": estimator_ext.__all__,
                    "dir": dir(estimator_ext),
                    "inspect": estimator_ext.inspect.__all__,
                    "resolved": [type(getattr(estimator_ext, name)).__name__
                                 for name in estimator_ext.__all__],
                    "cli_main": callable(estimator_ext.cli.main),
                }))
                """
            ),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=PACKAGE_DIR.parent,
    )
    import json

    found = json.loads(child.stdout)
    assert found["all"] == PUBLIC_API
    assert found["dir"] == sorted(PUBLIC_API + ["__version__", "inspect"])
    assert found["inspect"] == [
        "NotASavedModelError",
        "UnreadableSavedModelError",
        "describe",
        "format_description",
        "read_saved_model",
    ]
    assert "NoneType" not in found["resolved"] and found["cli_main"]


def test_the_console_script_is_the_cli_main():
    setup_text = (PACKAGE_DIR.parent / "setup.py").read_text()
    assert '"estimator-ext=estimator_ext.cli:main"' in setup_text
