"""Writes docs/versions.md from nox's reports (.ci/matrix/nox-report*.json) and
.ci/matrix/results/*.json.

    python docs/make_versions_table.py           # rewrite docs/versions.md
    python docs/make_versions_table.py --check   # exit 1 if docs/versions.md is stale

nox's report says which sessions ran and how each ended; each test session also wrote
``.ci/matrix/results/<session>.json`` with the versions it installed, its pytest counts and
its date. The matrix no longer fits one run on 2 cores, so it may run in parts, each with a
report of its own: ``nox-report.json`` (the first) and ``nox-report-<part>.json`` (e.g.
``nox -s tests-tf2.17-py3.9 --report .ci/matrix/nox-report-tf2.17-py3.9.json``). They are
merged here, in that order, a later part's entry replacing an earlier one's for the same
session; each row keeps the date its session wrote. The table lists the sessions of the
reports; sessions of the noxfile that are in none are listed as not run. Plain Python, no nox
or TensorFlow needed (tests/test_versions_doc.py imports it).
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
#: The parts of the report after the first, merged in name order (see the module doc).
REPORT_PARTS = "nox-report-*.json"
RESULTS_DIR = MATRIX_DIR / "results"
TABLE = ROOT / "docs" / "versions.md"

INTRO = """\
# Supported versions

estimator_ext supports **TensorFlow 2.12 to 2.21** (`tensorflow` or `tensorflow-cpu`) on
**Python 3.9 to 3.13**, each Python with the TensorFlow minors that ship wheels for it:

| Python | TensorFlow |
|---|---|
| 3.9 | 2.12-2.20 |
| 3.10, 3.11 | 2.12-2.21 |
| 3.12 | 2.16-2.21 |
| 3.13 | 2.20, 2.21 |

TensorFlow 2.15 is the last release with `tf.estimator`. On 2.16-2.21 estimator_ext runs the
last tensorflow-estimator, 2.15.0, under the legacy Keras of the same minor (`tf-keras`):

- `import estimator_ext` before `tensorflow_estimator` (or anything that imports it): it
  registers stand-ins for the four TensorFlow modules tensorflow-estimator needs and 2.16
  deleted. `estimator_ext.patch()` (and `estimator-ext run`) also bring back `tf.estimator`
  and `tf.compat.v1.estimator` ([migration](migration.md)).
- Set `TF_USE_LEGACY_KERAS=1` before TensorFlow is imported: the canned estimators need
  tf-keras (under Keras 3 they raise an error that says so); `estimator-ext run` sets it.

2.11 and older have no wheels in the registries we install from. Outside the range `import
estimator_ext` raises an `ImportError` that says what to install (`estimator_ext/_versions.py`
holds the range).

Each TensorFlow minor pairs with its own tensorflow-estimator, Keras and tensorflow-io (for
`s3://`); each has its extras (the defaults, `cpu`/`tf`/`s3`, are for 2.15):

| TensorFlow | tensorflow-estimator | Keras | tensorflow-io | extras (CPU \\| GPU-capable, s3) |
|---|---|---|---|---|
| 2.21.0 | 2.15.0 | tf-keras 2.21.0 | none | `cpu-tf221` \\| `tf221` |
| 2.20.0 | 2.15.0 | tf-keras 2.20.1 | none | `cpu-tf220` \\| `tf220` |
| 2.19.1 | 2.15.0 | tf-keras 2.19.0 | none | `cpu-tf219` \\| `tf219` |
| 2.18.1 | 2.15.0 | tf-keras 2.18.0 | none | `cpu-tf218` \\| `tf218` |
| 2.17.1 | 2.15.0 | tf-keras 2.17.0 | 0.37.1 | `cpu-tf217` \\| `tf217`, `s3-tf217` |
| 2.16.2 | 2.15.0 | tf-keras 2.16.0 | 0.37.1 | `cpu-tf216` \\| `tf216`, `s3-tf216` |
| 2.15.1 | 2.15.0 | keras 2.15.0 | 0.36.0 | `cpu` \\| `tf`, `s3` |
| 2.14.1 | 2.14.0 | keras 2.14.0 | 0.35.0 | `cpu-tf214` \\| `tf214`, `s3-tf214` |
| 2.13.1 | 2.13.0 | keras 2.13.1 | 0.34.0 | `cpu-tf213` \\| `tf213`, `s3-tf213` |
| 2.12.0 | 2.12.0 | keras 2.12.0 | 0.32.0 | `cpu-tf212` \\| `tf212`, `s3-tf212` |

```bash
pip install 'estimator-ext[cpu]'                 # TensorFlow 2.15.1 (CPU)
pip install 'estimator-ext[cpu-tf212,s3-tf212]'  # an existing TensorFlow 2.12 pipeline, with s3://
pip install estimator-ext                        # keep the TensorFlow 2.12-2.21 you have

pip install 'estimator-ext[tf221]'               # TensorFlow 2.21: tensorflow, tf-keras 2.21.0
pip install 'estimator-ext[cpu-tf221]'           # ... or the CPU build, and then tf-keras
pip install --no-deps tf-keras==2.21.0           #     by hand (it requires `tensorflow` by name)
export TF_USE_LEGACY_KERAS=1                     # 2.16+: before TensorFlow is imported
```

The `cpu-tf216` ... `cpu-tf221` extras leave tf-keras out: tf-keras requires the full
`tensorflow` package by name, so an extra holding it would install `tensorflow` beside
`tensorflow-cpu`, two TensorFlows in one site-packages, each overwriting the other's files.
`tensorflow-serving-api` (for `warmup_requests`) is installed the same way, `--no-deps`, on
every minor: 2.12.2, 2.13.1, 2.14.1, 2.15.1, 2.16.1, 2.17.1, 2.18.1, 2.19.1, 2.20.0, 2.21.0
(each constraints file pins its own).

**Stores per minor.** `gs://` is TensorFlow's own and works on every minor; `s3://` needs
tensorflow-io, whose last release, 0.37.1, works with TensorFlow 2.16 and 2.17 and has no wheel
for Python 3.13. On 2.18-2.21, or on Python 3.13, an export to `s3://` fails at once with an
error that says so and names TensorFlow 2.17
([Filesystems](filesystems.md#which-store-works-where)).

Developers pin each minor with its constraints file: `constraints/tf2.15.txt` (2.15.1, the
default for `make venv`/`make test`), `constraints/tf2.12.txt` (tested with 2.12.0:
2.12.1 caps typing-extensions below 4.6, which today's grpcio, cryptography and pydantic
exceed), `constraints/tf2.13.txt` ... `constraints/tf2.21.txt` (each file's header: the
Pythons it was resolved on and the `--no-deps` packages).

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
- **TensorFlow 2.18-2.20's `saved_model.pbtxt`** (`as_text=True`, TensorFlow's own
  builder) does not parse back: protobuf 5's `str()` leaves a `"` inside the variables
  collection's bytes unescaped (`Message type "tensorflow.CollectionDef.BytesList" has no
  field named ...`). estimator_ext writes those files through `text_format` there, so
  its text exports load (`tests/export/test_saved_model_proto.py`).
- **TensorFlow 2.20 with protobuf 7**: TensorFlow 2.20 asks for `protobuf>=5.28.0` with no
  cap, so pip installs protobuf 7, and every `Estimator.train` then fails writing
  `graph.pbtxt` (`TypeError: MessageToString() got an unexpected keyword argument
  'float_format'`). The `cpu-tf220` and `tf220` extras hold protobuf below 7
  (`constraints/tf2.20.txt` pins 6.33.6); with TensorFlow 2.20 installed otherwise, run
  `pip install 'protobuf<7'`. 2.21 caps it itself and works with protobuf 7.

## The matrix (nox)

`noxfile.py` runs the full suite on TensorFlow 2.12-2.16 and 2.21 on Python 3.11; the
corners leave out `tests/reliability/` and `tests/distributed/` (they test processes,
stores and clusters, not the interpreter, and run on Python 3.11): TF 2.12 and 2.15 on
Python 3.9, 2.15 on 3.10, 2.16 and 2.21 on 3.12, 2.21 on 3.13, and one corner for each of
2.17 (Python 3.9), 2.18 (3.10), 2.19 (3.12) and 2.20 (3.13); `forward` (an export made on
TF 2.15 read on TF 2.21, `tests/forward/`); `lint`; and `package` (the wheel installed
with TF 2.15) and `package-tf2.12` (with TF 2.12).
It finds the interpreters under `$(pyenv root)/versions/3.X.*` itself (pyenv's
`python3.9`/`python3.10` shims answer only when `pyenv global` enables them), else
`python3.X` on PATH. Elsewhere: `pyenv install 3.9 3.10 3.11 3.12 3.13`, `uv python install
3.9 3.10 3.11 3.12 3.13`, the deadsnakes PPA (`apt-get install python3.9-venv ...`) or
python.org. The matrix up to 2.15 took 85 minutes on 2 shared cores (2026-12-03); with the
new minors it no longer fits one run, so it runs in parts, each with its own report
(`.ci/matrix/nox-report-<part>.json`), merged here session by session; each row keeps the
date its session ran. CI runs two corners: `make corner` (`tests-tf2.12-py3.9`) and `make
corner-newest` (TF 2.21 on the newest Python found, `tests-tf2.21-py3.13` here), and `make
forward`. Arguments after `--` go on to pytest (`nox -s tests-tf2.12-py3.9 -- -k export`).

```bash
nox --report .ci/matrix/nox-report.json && python docs/make_versions_table.py
nox -s tests-tf2.17-py3.9 --report .ci/matrix/nox-report-tf2.17-py3.9.json   # one part
```

## Last run

Generated by `docs/make_versions_table.py` from `.ci/matrix/nox-report*.json` and
`.ci/matrix/results/*.json`; `tests/test_versions_doc.py` checks that they agree.
"""


def report_paths(matrix_dir: pathlib.Path = MATRIX_DIR) -> list[pathlib.Path]:
    """The report's parts in merge order: ``nox-report.json``, then ``nox-report-*.json``."""
    first = [matrix_dir / REPORT.name] if (matrix_dir / REPORT.name).exists() else []
    return first + sorted(matrix_dir.glob(REPORT_PARTS))


def merge_reports(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One report of nox's shape from its parts: sessions in the order they first appear, each
    as its last part has it; ``result`` 1 when every session succeeded, as nox writes it."""
    by_name: dict[str, dict[str, Any]] = {}
    for part in parts:
        for entry in part["sessions"]:
            by_name[entry["name"]] = entry
    sessions = list(by_name.values())
    return {
        "result": int(all(entry["result"] == "success" for entry in sessions)),
        "sessions": sessions,
    }


def load_report(matrix_dir: pathlib.Path = MATRIX_DIR) -> dict[str, Any]:
    """nox's ``--report`` JSON (``{"result": 0|1, "sessions": [{name, result, duration...}]}``),
    merged from the parts in ``matrix_dir``."""
    return merge_reports(
        [json.loads(path.read_text(encoding="utf-8")) for path in report_paths(matrix_dir)]
    )


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
    importing nox (the first package minor's session is plain ``package``), and ``forward``."""
    tree = ast.parse(noxfile.read_text(encoding="utf-8"))
    matrix = _noxfile_constant(tree, "MATRIX")
    first, *others = _noxfile_constant(tree, "PACKAGE_TENSORFLOWS")
    return (
        [f"tests-tf{tf}-py{py}" for tf, py in matrix]
        + ["forward", "lint", "package"]
        + [f"package-tf{tf}" for tf in others]
    )


def _cell(value: Any | None) -> str:
    return "" if value in (None, "") else str(value)


def render(report: dict[str, Any], results: dict[str, dict[str, Any]], sessions: list[str]) -> str:
    """The whole of docs/versions.md for this report and these session summaries."""
    lines = [INTRO]
    lines.append(
        "| session | Python | TensorFlow | tf-estimator | keras | tf-keras | tensorflow-io "
        "| result | passed/total | skipped | date | minutes |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    ran = []
    for entry in report["sessions"]:
        name = entry["name"]
        ran.append(name)
        summary = results.get(name, {})
        counts = f"{summary['passed']}/{summary['total']}" if "total" in summary else ""
        lines.append(
            f"| {name} | {_cell(summary.get('python'))} | {_cell(summary.get('tensorflow'))} "
            f"| {_cell(summary.get('tensorflow_estimator'))} | {_cell(summary.get('keras'))} "
            f"| {_cell(summary.get('tf_keras'))} | {_cell(summary.get('tensorflow_io'))} "
            f"| {entry['result']} | {counts} "
            f"| {_cell(summary.get('skipped'))} | {_cell(summary.get('date'))} "
            f"| {entry.get('duration', 0) / 60:.1f} |"
        )
    not_run = [name for name in sessions if name not in ran]
    lines.append("")
    lines.append(
        "Not run in any part of the report: "
        + (", ".join(f"`{n}`" for n in not_run) or "none")
        + "."
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
