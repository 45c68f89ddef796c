"""The test matrix: every supported TensorFlow minor, the Python corners, lint and package.

    nox --report .ci/matrix/nox-report.json         # everything (about an hour on 2 cores)
    nox -s tests-tf2.12-py3.9 --report .ci/matrix/nox-report.json   # the oldest corner (CI)
    nox -l                                          # list the sessions
    python docs/make_versions_table.py              # docs/versions.md from the report

Sessions:

- ``tests-tf2.12-py3.11`` ... ``tests-tf2.15-py3.11``: the full suite on each TensorFlow
  minor, on Python 3.11;
- corners ``tests-tf2.12-py3.9``, ``tests-tf2.15-py3.9``, ``tests-tf2.15-py3.10``: the suite
  without tests/reliability/ and tests/distributed/ (CORNER_MARKERS), which run on every
  TensorFlow minor on Python 3.11 and test processes, stores and clusters rather than the
  interpreter; this keeps the whole matrix near an hour on 2 cores;
- ``lint``: ruff check, ruff format --check, mypy (as ``make lint``);
- ``package``: tests/test_package.py (build, twine check, fresh-venv install, demo) on
  TensorFlow 2.15; ``package-tf2.12``: the same wheel installed with TensorFlow 2.12.

Each session installs from the package registries, pinned by the constraints file of
its TensorFlow minor (constraints/tf2.12.txt ... constraints/tf2.14.txt, and
constraints/tf2.15.txt for 2.15). Each test session also writes
``.ci/matrix/results/<session>.json`` (versions installed, passed/failed/skipped counts,
date), which the table generator reads beside nox's own report (``.ci/matrix/`` holds both).

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
STACKS: dict[str, tuple[str, str]] = {
    "2.12": ("constraints/tf2.12.txt", "cpu-tf212,s3-tf212"),
    "2.13": ("constraints/tf2.13.txt", "cpu-tf213,s3-tf213"),
    "2.14": ("constraints/tf2.14.txt", "cpu-tf214,s3-tf214"),
    "2.15": ("constraints/tf2.15.txt", "cpu,s3"),
}
#: TensorFlow minor -> tensorflow-serving-api for warmup_requests' protos, installed with
#: --no-deps as `make venv` does (it requires the full `tensorflow` by name).
SERVING_API: dict[str, str] = {
    "2.12": "2.12.2",
    "2.13": "2.13.1",
    "2.14": "2.14.1",
    "2.15": "2.15.1",
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
]
TOOLS_PYTHON = "3.11"
#: Which tests a session runs, as a pytest marker expression (markers: pyproject.toml; tests/
#: conftest.py marks tests/tfma/, tests/reliability/ and tests/distributed/ by folder).
#: tests/tfma/ runs in its own TF 2.15 venv (make test-tfma) and tests/test_package.py in
#: the package sessions, as in `make test`.
SUITE_MARKERS = "not tfma and not package"
#: The corner sessions (Python other than TOOLS_PYTHON) also leave out these; see above.
CORNER_MARKERS = f"{SUITE_MARKERS} and not reliability and not distributed"
#: TensorFlow minors whose wheel install the package sessions check.
PACKAGE_TENSORFLOWS = ["2.15", "2.12"]
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


def run_suite(session: nox.Session, tensorflow: str, corner: bool) -> None:
    """Installs TensorFlow ``tensorflow``'s stack (pinned) and runs the suite.

    A ``corner`` runs CORNER_MARKERS' tests, other sessions SUITE_MARKERS'; posargs are
    passed on to pytest after the marker expression.
    """
    pytest_args = ["-m", CORNER_MARKERS if corner else SUITE_MARKERS, *session.posargs]
    constraints, extras = STACKS[tensorflow]
    session.install("-c", constraints, f".[{extras},test]")
    session.install("--no-deps", f"tensorflow-serving-api=={SERVING_API[tensorflow]}")
    RESULTS_DIR.mkdir(exist_ok=True)
    junit_xml = session.create_tmp() + "/junit.xml"
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
        env={"TF_CPP_MIN_LOG_LEVEL": "2"},
        success_codes=[0, 1],  # record the counts of a failing run too, then fail below
    )
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
        "tensorflow_io": _installed(session, "tensorflow-io"),
        "constraints": constraints,
        "pytest_args": pytest_args,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        **counts,
    }
    (RESULTS_DIR / f"{session.name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    if counts["failed"] or not counts["total"]:
        session.error(f"{counts['failed']} of {counts['total']} tests failed")


def _register_suite(tensorflow: str, python: str) -> None:
    @nox.session(name=f"tests-tf{tensorflow}-py{python}", python=find_python(python))
    def suite(session: nox.Session) -> None:
        run_suite(session, tensorflow, corner=python != TOOLS_PYTHON)

    suite.__doc__ = f"The full suite on TensorFlow {tensorflow}, Python {python}."


for _tensorflow, _python in MATRIX:
    _register_suite(_tensorflow, _python)


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
