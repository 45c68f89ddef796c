"""Writes docs/versions.md from nox's report (.ci/matrix/nox-report.json) and
.ci/matrix/results/*.json.

    python docs/make_versions_table.py           # rewrite docs/versions.md
    python docs/make_versions_table.py --check   # exit 1 if docs/versions.md is stale

nox's report says which sessions ran and how each ended; each test session also wrote
``.ci/matrix/results/<session>.json`` with the versions it installed and its pytest
counts. The table lists the sessions of the report; sessions of the noxfile's matrix that are not in
it are listed as not run. Plain Python, no nox or TensorFlow needed (tests/test_versions_doc.py
imports it).
"""

from __future__ import annotations

import argparse
import ast
import json
import pathlib
import sys
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
MATRIX_DIR = ROOT / ".ci" / "matrix"
REPORT = MATRIX_DIR / "nox-report.json"
RESULTS_DIR = MATRIX_DIR / "results"
TABLE = ROOT / "docs" / "versions.md"

INTRO = """\
# Supported versions

estimator_ext supports **TensorFlow 2.12, 2.13, 2.14 and 2.15** (`tensorflow` or
`tensorflow-cpu`) on **Python 3.9, 3.10 and 3.11**. TensorFlow 2.16 and later no longer
ship `tf.estimator`; 2.11 and older have no wheels in the registries we install from.
Outside that range `import estimator_ext` raises an `ImportError` that says what to
install (`estimator_ext/_versions.py` holds the range).

Each TensorFlow minor pairs with its own tensorflow-estimator, keras and tensorflow-io
(for `s3://`). The default extras are for 2.15; older minors have their own:

| TensorFlow | tensorflow-estimator | keras | tensorflow-io | extras (CPU \\| GPU-capable, s3) |
|---|---|---|---|---|
| 2.15.1 | 2.15.0 | 2.15.0 | 0.36.0 | `cpu` \\| `tf`, `s3` |
| 2.14.1 | 2.14.0 | 2.14.0 | 0.35.0 | `cpu-tf214` \\| `tf214`, `s3-tf214` |
| 2.13.1 | 2.13.0 | 2.13.1 | 0.34.0 | `cpu-tf213` \\| `tf213`, `s3-tf213` |
| 2.12.0 | 2.12.0 | 2.12.0 | 0.32.0 | `cpu-tf212` \\| `tf212`, `s3-tf212` |

```bash
pip install 'estimator-ext[cpu]'                 # TensorFlow 2.15.1 (CPU)
pip install 'estimator-ext[cpu-tf212,s3-tf212]'  # an existing TensorFlow 2.12 pipeline, with s3://
pip install estimator-ext                        # keep the TensorFlow 2.12-2.15 you have
```

Developers pin each minor with its constraints file: `constraints/tf2.15.txt` (2.15.1, the
default for `make venv`/`make test`), `constraints/tf2.12.txt` (tested with 2.12.0:
2.12.1 caps typing-extensions below 4.6, which today's grpcio, cryptography and pydantic
exceed), `constraints/tf2.13.txt`, `constraints/tf2.14.txt`.

Only on 2.15: the TFMA 0.46 evaluation venv (`make test-tfma`); its tests are skipped on
other TensorFlow minors with that reason.

Known problems of older minors, TensorFlow's own, found by the matrix (each checked by a
test that fails if the problem goes away or changes):

- **tensorflow-estimator 2.12 and 2.13 on Python 3.11**: a canned `DNNClassifier` or
  `DNNRegressor` given its optimizer by name, as by default (`'Adagrad'`), fails in
  `train` (and in an export of the TRAIN graph) with `AttributeError: module 'inspect'
  has no attribute 'getargspec'`: tensorflow-estimator calls a function Python 3.11
  removed (fixed in 2.14, tensorflow/estimator#85). Pass a callable that makes the
  optimizer instead, e.g. `optimizer=lambda: tf.keras.optimizers.legacy.Adagrad()` (what
  `'Adagrad'` stands for), or use Python 3.10. `DNNLinearCombined*`, `Linear*` and
  `Baseline*` are not affected (`tests/export/test_export_canned.py`).
- **TensorFlow 2.13's `saved_model_cli show --all`** fails on any SavedModel with more
  than one meta graph, ours included (`TypeError: '<' not supported between instances of
  'RepeatedScalarContainer'`: it sorts meta graphs by their tags container; fixed in 2.14).
  `saved_model_cli show --dir DIR --tag_set serve` (and `train`, `eval`) works, as does
  `estimator-ext inspect DIR` (`tests/export/test_export_options.py`).

## The matrix (nox)

`noxfile.py` runs the full suite on each TensorFlow minor on Python 3.11, the corners
(Python 3.9 with TF 2.12; Python 3.9 and 3.10 with TF 2.15), `lint`, and `package` (the
wheel installed with TF 2.15) and `package-tf2.12` (with TF 2.12).
It finds the interpreters under `$(pyenv root)/versions/3.X.*` itself (pyenv's
`python3.9`/`python3.10` shims answer only when `pyenv global` enables them), else
`python3.X` on PATH. Elsewhere: `pyenv install 3.9 3.10 3.11`, `uv python install 3.9
3.10 3.11`, the deadsnakes PPA (`apt-get install python3.9-venv ...`) or python.org.
The corners leave out `tests/reliability/` and `tests/distributed/` (they test processes,
stores and clusters, not the interpreter, and run on every TensorFlow minor on Python
3.11); the whole matrix took 85 minutes on 2 shared cores (2026-12-03). CI's `make corner` runs
`tests-tf2.12-py3.9`; arguments after `--` go on to pytest
(`nox -s tests-tf2.12-py3.9 -- -k export`).

```bash
nox --report .ci/matrix/nox-report.json && python docs/make_versions_table.py
```

## Last run

Generated by `docs/make_versions_table.py` from `.ci/matrix/nox-report.json` and
`.ci/matrix/results/*.json`; `tests/test_versions_doc.py` checks that they agree.
"""


def load_report(report_path: pathlib.Path = REPORT) -> dict[str, Any]:
    """nox's ``--report`` JSON: ``{"result": 0|1, "sessions": [{name, result, duration...}]}``."""
    return json.loads(report_path.read_text(encoding="utf-8"))


def load_results(results_dir: pathlib.Path = RESULTS_DIR) -> dict[str, dict[str, Any]]:
    """Session name -> the summary that session wrote (versions, counts, date)."""
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(results_dir.glob("*.json"))
    }


def _noxfile_constant(tree: ast.Module, name: str) -> Any:
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if node.target.id == name and node.value is not None:
                return ast.literal_eval(node.value)
        elif isinstance(node, ast.Assign):
            if name in [target.id for target in node.targets if isinstance(target, ast.Name)]:
                return ast.literal_eval(node.value)
    raise ValueError(f"noxfile.py has no {name} = [...] assignment")


def matrix_sessions(noxfile: pathlib.Path = ROOT / "noxfile.py") -> list[str]:
    """Every session the noxfile defines, read from MATRIX and PACKAGE_TENSORFLOWS without
    importing nox (the first package minor's session is plain ``package``)."""
    tree = ast.parse(noxfile.read_text(encoding="utf-8"))
    matrix = _noxfile_constant(tree, "MATRIX")
    first, *others = _noxfile_constant(tree, "PACKAGE_TENSORFLOWS")
    return (
        [f"tests-tf{tf}-py{py}" for tf, py in matrix]
        + ["lint", "package"]
        + [f"package-tf{tf}" for tf in others]
    )


def _cell(value: Any | None) -> str:
    return "" if value in (None, "") else str(value)


def render(report: dict[str, Any], results: dict[str, dict[str, Any]], sessions: list[str]) -> str:
    """The whole of docs/versions.md for this report and these session summaries."""
    lines = [INTRO]
    lines.append(
        "| session | Python | TensorFlow | tf-estimator | keras | tensorflow-io | result "
        "| passed/total | skipped | date | minutes |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    ran = []
    for entry in report["sessions"]:
        name = entry["name"]
        ran.append(name)
        summary = results.get(name, {})
        counts = f"{summary['passed']}/{summary['total']}" if "total" in summary else ""
        lines.append(
            f"| {name} | {_cell(summary.get('python'))} | {_cell(summary.get('tensorflow'))} "
            f"| {_cell(summary.get('tensorflow_estimator'))} | {_cell(summary.get('keras'))} "
            f"| {_cell(summary.get('tensorflow_io'))} | {entry['result']} | {counts} "
            f"| {_cell(summary.get('skipped'))} | {_cell(summary.get('date'))} "
            f"| {entry.get('duration', 0) / 60:.1f} |"
        )
    not_run = [name for name in sessions if name not in ran]
    lines.append("")
    lines.append(
        "Not run in this report: " + (", ".join(f"`{n}`" for n in not_run) or "none") + "."
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/versions.md is stale")
    args = parser.parse_args(argv)
    text = render(load_report(), load_results(), matrix_sessions())
    if args.check:
        if TABLE.read_text(encoding="utf-8") != text:
            print(f"{TABLE} is stale: run python docs/make_versions_table.py", file=sys.stderr)
            return 1
        return 0
    TABLE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
