"""The test matrix: every supported TensorFlow minor, the Python corners, lint and package.

    nox -s tests-tf2.17-py3.9 --report .ci/matrix/nox-report-tf2.17-py3.9.json  # one part
    nox -s tests-tf2.12-py3.9 --report .ci/matrix/nox-report.json   # the oldest corner (CI)
    nox -t corner-newest                            # the newest corner (CI: make corner-newest)
    nox -l                                          # list the sessions
    python docs/make_versions_table.py              # docs/versions.md from the reports

Sessions:

- ``tests-tf2.12-py3.11`` ... ``tests-tf2.16-py3.11``, ``tests-tf2.21-py3.11``: the full suite
  on TensorFlow 2.12-2.16 and 2.21, on Python 3.11;
- corners: the suite without tests/reliability/ and tests/distributed/ (CORNER_MARKERS), which
  run on Python 3.11 and test processes, stores and clusters rather than the interpreter:
  ``tests-tf2.12-py3.9``, ``tests-tf2.15-py3.9``, ``tests-tf2.15-py3.10``; on the minors without
  ``tf.estimator``, ``tests-tf2.16-py3.12``, ``tests-tf2.21-py3.12``, ``tests-tf2.21-py3.13``,
  and one for each of 2.17-2.20, each on another Python so that every Python 3.9-3.13 runs the
  stand-ins (``tests-tf2.17-py3.9``, ``tests-tf2.18-py3.10``, ``tests-tf2.19-py3.12``,
  ``tests-tf2.20-py3.13``); 2.16+ run with tf-keras and ``TF_USE_LEGACY_KERAS=1``;
- the newest corner (tag ``corner-newest``, CI's ``make corner-newest``): TensorFlow 2.21
  (NEWEST_TENSORFLOW) on the newest of NEWEST_CORNER_PYTHONS found, ``tests-tf2.21-py3.13``
  here: the corner's tests less NEWEST_CORNER_LEAVES_OUT (below: why);
- ``forward``: tests/forward/, an export made on TF 2.15 (in .venv) read on TF 2.21 in a venv of
  that TensorFlow alone (CI's ``make forward``);
- ``lint``: ruff check, ruff format --check, mypy (as ``make lint``);
- ``package``: tests/test_package.py (build, twine check, fresh-venv install, demo) on
  TensorFlow 2.15; ``package-tf2.12`` and ``package-tf2.21``: the same wheel installed with
  TensorFlow 2.12 and 2.21.

Each session installs from the package registries, pinned by the constraints file of
its TensorFlow minor (constraints/tf2.12.txt ... constraints/tf2.21.txt). Each test session
also writes ``.ci/matrix/results/<session>.json`` (versions installed, passed/failed/skipped
counts, date), which the table generator reads beside nox's own reports (``.ci/matrix/`` holds
both). The whole matrix no longer fits one run on 2 cores (it took 85 minutes up to 2.15), so
it may run in parts, each with a report of its own, ``.ci/matrix/nox-report-<part>.json``,
which docs/make_versions_table.py merges (each row keeps its session's date).

Interpreters are found here rather than on PATH: pyenv's ``python3.9``/``python3.10``
shims answer only when ``pyenv global`` or PYENV_VERSION enables them, so the newest
``$(pyenv root)/versions/3.X.*/bin/python`` is used; without pyenv, ``python3.X`` on
PATH (e.g. from the deadsnakes PPA, python.org installers or ``uv python install 3.X``).
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import re
import shutil
import subprocess
from xml.etree import ElementTree

import nox

ROOT = pathlib.Path(__file__).resolve().parent
RESULTS_DIR = ROOT / ".ci" / "matrix" / "results"

#: TensorFlow minor -> (constraints file, extras of this package for a CPU install + s3).
#: 2.18-2.21 have no s3 extra: no tensorflow-io release serves s3:// there (setup.py).
STACKS: dict[str, tuple[str, str]] = {
    "2.12": ("constraints/tf2.12.txt", "cpu-tf212,s3-tf212"),
    "2.13": ("constraints/tf2.13.txt", "cpu-tf213,s3-tf213"),
    "2.14": ("constraints/tf2.14.txt", "cpu-tf214,s3-tf214"),
    "2.15": ("constraints/tf2.15.txt", "cpu,s3"),
    "2.16": ("constraints/tf2.16.txt", "cpu-tf216,s3-tf216"),
    "2.17": ("constraints/tf2.17.txt", "cpu-tf217,s3-tf217"),
    "2.18": ("constraints/tf2.18.txt", "cpu-tf218"),
    "2.19": ("constraints/tf2.19.txt", "cpu-tf219"),
    "2.20": ("constraints/tf2.20.txt", "cpu-tf220"),
    "2.21": ("constraints/tf2.21.txt", "cpu-tf221"),
}
#: TensorFlow minor -> tensorflow-serving-api for warmup_requests' protos, installed with
#: --no-deps as `make venv` does (it requires the full `tensorflow` by name).
SERVING_API: dict[str, str] = {
    "2.12": "2.12.2",
    "2.13": "2.13.1",
    "2.14": "2.14.1",
    "2.15": "2.15.1",
    "2.16": "2.16.1",
    "2.17": "2.17.1",
    "2.18": "2.18.1",
    "2.19": "2.19.1",
    "2.20": "2.20.0",
    "2.21": "2.21.0",
}
#: TensorFlow minor (2.16+) -> tf-keras, the Keras 2 that tensorflow-estimator's canned
#: estimators need there (with TF_USE_LEGACY_KERAS=1), installed with --no-deps: it requires
#: the full `tensorflow` by name, a second TensorFlow beside tensorflow-cpu (setup.py).
TF_KERAS: dict[str, str] = {
    "2.16": "2.16.0",
    "2.17": "2.17.0",
    "2.18": "2.18.0",
    "2.19": "2.19.0",
    "2.20": "2.20.1",
    "2.21": "2.21.0",
}
#: (TensorFlow minor, Python) of every test session.
MATRIX: list[tuple[str, str]] = [
    ("2.12", "3.11"),
    ("2.13", "3.11"),
    ("2.14", "3.11"),
    ("2.15", "3.11"),
    ("2.12", "3.9"),
    ("2.15", "3.9"),
    ("2.15", "3.10"),
    ("2.16", "3.11"),
    ("2.21", "3.11"),
    ("2.16", "3.12"),
    ("2.21", "3.12"),
    ("2.21", "3.13"),
    ("2.17", "3.9"),
    ("2.18", "3.10"),
    ("2.19", "3.12"),
    ("2.20", "3.13"),
]
TOOLS_PYTHON = "3.11"
#: The newest corner CI runs (`make corner-newest`): the newest TensorFlow on the newest Python
#: that has a wheel of it, as found on this machine (NEWEST_CORNER_PYTHONS, newest first).
NEWEST_TENSORFLOW = "2.21"
NEWEST_CORNER_PYTHONS = ("3.13", "3.12", "3.11", "3.10")
#: Which tests a session runs, as a pytest marker expression (markers: pyproject.toml; tests/
#: conftest.py marks tests/tfma/, tests/reliability/ and tests/distributed/ by folder).
#: tests/tfma/ runs in its own TF 2.15 venv (make test-tfma) and tests/test_package.py in
#: the package sessions, as in `make test`.
SUITE_MARKERS = "not tfma and not package and not forward"
#: The corner sessions (Python other than TOOLS_PYTHON) also leave out these; see above.
CORNER_MARKERS = f"{SUITE_MARKERS} and not reliability and not distributed"
#: The newest corner (CI's `make corner-newest`, tagged ``corner-newest``) runs the corner's
#: tests less these files. Why: CI gives the newest corner and the forward-loading test 10
#: minutes together, installs included (two TensorFlow 2.21 venvs), and the whole corner took
#: 23 minutes on 2026-12-05 (9 to install, 14.5 of tests: 1,622 s of test time on a busy
#: 2-core machine). What it must catch on the newest TensorFlow and Python is kept: the
#: stand-ins and patch() (tests/patching/, tests/newest_tf/), the canned and custom parity of
#: every way in (tests/export/), serving and convert with Keras 3 (tests/serving/), the CLI,
#: variables and storage (gs:// runs, s3:// checks its error). Left out, 600 s of that test
#: time: the docs' and examples' scripts (the same export paths, each in a fresh interpreter;
#: the Keras-3-only blocks run in tests/serving/test_convert.py), AllModesExporter's
#: evaluation loop, `export --watch` and the subset's memory bounds (processes, timing and a
#: 256 MiB table, not the interpreter). With them left out the corner took 8.8 minutes,
#: installs included (413 CPU-seconds; load average 5 from other jobs), and `make forward`
#: 1.3 minutes. All of them run in the matrix's other 2.21 sessions (tests-tf2.21-py3.11,
#: -py3.12) and on 2.15 in `make test`.
NEWEST_CORNER_LEAVES_OUT = (
    "tests/test_docs.py",
    "tests/test_examples.py",
    "tests/test_exporter.py",
    "tests/cli/test_watch.py",
    "tests/variables/test_subset_memory.py",
)
#: TensorFlow minors whose wheel install the package sessions check.
PACKAGE_TENSORFLOWS = ["2.15", "2.12", "2.21"]
PYTEST_TIMEOUT_S = "900"
#: pytest-xdist workers of a test session, as in `make test` (PYTEST_WORKERS).
PYTEST_WORKERS = "2"

nox.options.error_on_missing_interpreters = True
nox.options.reuse_existing_virtualenvs = True


def _pyenv_root() -> pathlib.Path | None:
    if os.environ.get("PYENV_ROOT"):
        return pathlib.Path(os.environ["PYENV_ROOT"])
    if shutil.which("pyenv"):
        try:
            answer = subprocess.run(
                ["pyenv", "root"], capture_output=True, text=True, timeout=30, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            answer = ""
        if answer:
            return pathlib.Path(answer)
    default = pathlib.Path.home() / ".pyenv"
    return default if default.is_dir() else None


def find_python(version: str) -> str:
    """The newest pyenv ``version.*`` interpreter, else ``pythonX.Y`` on PATH, else ``version``.

    Returning the bare version lets nox report the interpreter as missing (an error, as
    ``error_on_missing_interpreters`` is set) rather than run on the wrong Python.
    """
    root = _pyenv_root()
    if root is not None:
        found = []
        for candidate in (root / "versions").glob(f"{version}.*/bin/python"):
            match = re.fullmatch(rf"{re.escape(version)}\.(\d+)", candidate.parent.parent.name)
            if match:
                found.append((int(match.group(1)), candidate))
        if found:
            return str(max(found)[1])
    return shutil.which(f"python{version}") or version


def _installed(session: nox.Session, distribution: str) -> str:
    code = (
        "import importlib.metadata as m, sys\n"
        "try: print(m.version(sys.argv[1]))\n"
        "except m.PackageNotFoundError: print('')\n"
    )
    output = session.run("python", "-c", code, distribution, silent=True)
    return str(output).strip()


def _counts(junit_xml: pathlib.Path) -> dict[str, int]:
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in ElementTree.parse(junit_xml).getroot().iter("testsuite"):
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    return {
        "passed": totals["tests"] - totals["failures"] - totals["errors"] - totals["skipped"],
        "failed": totals["failures"] + totals["errors"],
        "skipped": totals["skipped"],
        "total": totals["tests"],
    }


def install_stack(session: nox.Session, tensorflow: str, extras: str = "test") -> str:
    """Installs this package with TensorFlow ``tensorflow``'s stack, pinned; its constraints.

    Beside ``.[<the minor's extras>,<extras>]``: tensorflow-serving-api and, on 2.16+, tf-keras,
    both with --no-deps (each requires the full ``tensorflow`` by name, a second TensorFlow
    beside tensorflow-cpu), pinned by the same constraints file.
    """
    constraints, stack_extras = STACKS[tensorflow]
    session.install("-c", constraints, f".[{stack_extras},{extras}]")
    no_deps = [f"tensorflow-serving-api=={SERVING_API[tensorflow]}"]
    if tensorflow in TF_KERAS:
        no_deps.append(f"tf-keras=={TF_KERAS[tensorflow]}")
    session.install("--no-deps", *no_deps)
    return constraints


def run_suite(
    session: nox.Session, tensorflow: str, markers: str, leaves_out: tuple[str, ...] = ()
) -> None:
    """Installs TensorFlow ``tensorflow``'s stack (pinned) and runs the tests ``markers`` selects.

    On 2.16+ the tests run with TF_USE_LEGACY_KERAS=1, as docs/versions.md tells users to
    (the canned estimators need tf-keras). posargs are passed on to pytest after the marker
    expression (a second ``-m`` there replaces it).
    """
    pytest_args = ["-m", markers, *(f"--ignore={path}" for path in leaves_out), *session.posargs]
    constraints = install_stack(session, tensorflow)
    RESULTS_DIR.mkdir(exist_ok=True)
    junit_xml = session.create_tmp() + "/junit.xml"
    pathlib.Path(junit_xml).unlink(missing_ok=True)  # never count an earlier run's tests
    env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    if tensorflow in TF_KERAS:
        env["TF_USE_LEGACY_KERAS"] = "1"
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/",
        "-ra",
        "-n",
        PYTEST_WORKERS,
        "--dist",
        "worksteal",
        f"--timeout={PYTEST_TIMEOUT_S}",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit_xml}",
        *pytest_args,
        env=env,
        success_codes=[0, 1],  # record the counts of a failing run too, then fail below
    )
    if not pathlib.Path(junit_xml).exists():  # `nox --install-only`: nothing ran, nothing to record
        return
    counts = _counts(pathlib.Path(junit_xml))
    tensorflow_version = _installed(session, "tensorflow-cpu") or _installed(session, "tensorflow")
    summary = {
        "session": session.name,
        "python": str(
            session.run(
                "python", "-c", "import platform; print(platform.python_version())", silent=True
            )
        ).strip(),
        "tensorflow": tensorflow_version,
        "tensorflow_estimator": _installed(session, "tensorflow-estimator"),
        "keras": _installed(session, "keras"),
        "tf_keras": _installed(session, "tf-keras"),
        "tensorflow_io": _installed(session, "tensorflow-io"),
        "constraints": constraints,
        "pytest_args": pytest_args,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        **counts,
    }
    (RESULTS_DIR / f"{session.name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    if counts["failed"] or not counts["total"]:
        session.error(f"{counts['failed']} of {counts['total']} tests failed")


def newest_corner_python() -> str | None:
    """The first of NEWEST_CORNER_PYTHONS that find_python finds, else None."""
    for python in NEWEST_CORNER_PYTHONS:
        if find_python(python) != python:
            return python
    return None


def _register_suite(tensorflow: str, python: str) -> None:
    leaves_out: tuple[str, ...] = ()
    tags = []
    if (tensorflow, python) == (NEWEST_TENSORFLOW, newest_corner_python()):
        kind, markers, leaves_out = "The newest corner", CORNER_MARKERS, NEWEST_CORNER_LEAVES_OUT
        tags = ["corner-newest"]
    elif python == TOOLS_PYTHON:
        kind, markers = "The full suite", SUITE_MARKERS
    else:
        kind, markers = "A corner", CORNER_MARKERS

    @nox.session(name=f"tests-tf{tensorflow}-py{python}", python=find_python(python), tags=tags)
    def suite(session: nox.Session) -> None:
        run_suite(session, tensorflow, markers, leaves_out)

    suite.__doc__ = f"{kind} on TensorFlow {tensorflow}, Python {python}: -m '{markers}'" + (
        f" less {', '.join(leaves_out)}." if leaves_out else "."
    )


for _tensorflow, _python in MATRIX:
    _register_suite(_tensorflow, _python)


@nox.session(name="forward", python=find_python(newest_corner_python() or NEWEST_CORNER_PYTHONS[0]))
def forward(session: nox.Session) -> None:
    """tests/forward/: a TF 2.15 export read on the newest TensorFlow, in a venv of that
    TensorFlow alone (tensorflow-cpu pinned by its constraints file; no estimator_ext, no
    tensorflow_estimator), on the newest corner's Python. pytest runs in the TF 2.15 venv
    (FORWARD_FROM_VENV, default .venv: `make forward` makes it), which makes the export."""
    constraints, _ = STACKS[NEWEST_TENSORFLOW]
    session.install("-c", constraints, f"tensorflow-cpu~={NEWEST_TENSORFLOW}.0")
    tf215_python = str(ROOT / os.environ.get("FORWARD_FROM_VENV", ".venv") / "bin" / "python")
    newest_python = str(pathlib.Path(session.virtualenv.location) / "bin" / "python")
    session.run(
        tf215_python,
        "-m",
        "pytest",
        "tests/forward/",
        "-m",
        "forward",
        "-ra",
        f"--timeout={PYTEST_TIMEOUT_S}",
        "-p",
        "no:cacheprovider",
        *session.posargs,
        env={"ESTIMATOR_EXT_FORWARD_PYTHON": newest_python, "TF_CPP_MIN_LOG_LEVEL": "2"},
        external=True,
    )


@nox.session(python=find_python(TOOLS_PYTHON))
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check and mypy, pinned by constraints/tf2.15.txt."""
    session.install("-c", "constraints/tf2.15.txt", ".[lint]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


def _register_package(tensorflow: str) -> None:
    name = "package" if tensorflow == PACKAGE_TENSORFLOWS[0] else f"package-tf{tensorflow}"

    @nox.session(name=name, python=find_python(TOOLS_PYTHON))
    def package(session: nox.Session) -> None:
        # wrapt: tests/conftest.py imports estimator_ext.patching (TF-free, needs wrapt).
        session.install(
            "-c", "constraints/tf2.15.txt", "pytest", "pytest-timeout", "build", "twine", "wrapt"
        )
        session.run(
            "python",
            "-m",
            "pytest",
            "tests/test_package.py",
            "-m",
            "package",
            "-ra",
            "-s",
            f"--timeout={PYTEST_TIMEOUT_S}",
            "-p",
            "no:cacheprovider",
            *session.posargs,
            env={"ESTIMATOR_EXT_PACKAGE_TF": tensorflow},
        )

    package.__doc__ = (
        f"Build, twine check, fresh-venv install of the wheel with TensorFlow {tensorflow}, "
        "demo and inspect."
    )


for _tensorflow in PACKAGE_TENSORFLOWS:
    _register_package(_tensorflow)
