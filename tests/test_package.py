"""The package as users get it: a real sdist and wheel, installed into a fresh venv.

Builds both with ``python -m build``, checks them with ``twine check`` and checks what
each one holds; then installs the wheel (not editable) with its TensorFlow extra into a
new virtual environment and, from a temporary directory far from the checkout, checks
that ``estimator_ext`` comes from that venv and runs ``estimator-ext --version``,
examples/demo.py and ``estimator-ext inspect`` on the demo's export.

Slow (the venv installs TensorFlow from the pip cache), so it is marked ``package`` and
deselected by default (pyproject.toml's pytest addopts); run it with ``make package`` or
``nox -s package``.
ESTIMATOR_EXT_PACKAGE_TF=2.12 (2.13, 2.14, 2.16 ... 2.21) installs that TensorFlow's extras
and constraints file instead of 2.15's. On 2.16 and later the venv also gets that minor's
tf-keras with ``--no-deps`` (it requires the full ``tensorflow`` by name, which the ``cpu-tf2XX``
extras leave out), as docs/versions.md tells users, and the demo runs through ``estimator-ext
run`` (TensorFlow 2.16 has no ``tf.estimator`` until ``patch()``; ``run`` also sets
``TF_USE_LEGACY_KERAS=1``).
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import time
import venv
import zipfile

import pytest

pytestmark = pytest.mark.package

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: TensorFlow minor -> (constraints file, the wheel's extras for a CPU install).
INSTALL_BY_TENSORFLOW: dict[str, tuple[str, str]] = {
    "2.12": ("constraints/tf2.12.txt", "cpu-tf212"),
    "2.13": ("constraints/tf2.13.txt", "cpu-tf213"),
    "2.14": ("constraints/tf2.14.txt", "cpu-tf214"),
    "2.15": ("constraints/tf2.15.txt", "cpu"),
    "2.16": ("constraints/tf2.16.txt", "cpu-tf216"),
    "2.17": ("constraints/tf2.17.txt", "cpu-tf217"),
    "2.18": ("constraints/tf2.18.txt", "cpu-tf218"),
    "2.19": ("constraints/tf2.19.txt", "cpu-tf219"),
    "2.20": ("constraints/tf2.20.txt", "cpu-tf220"),
    "2.21": ("constraints/tf2.21.txt", "cpu-tf221"),
}
#: TensorFlow minor (2.16+) -> the tf-keras installed beside the wheel with --no-deps.
TF_KERAS_BY_TENSORFLOW: dict[str, str] = {
    "2.16": "2.16.0",
    "2.17": "2.17.0",
    "2.18": "2.18.0",
    "2.19": "2.19.0",
    "2.20": "2.20.1",
    "2.21": "2.21.0",
}
TIMEOUT_S = 900


def _version() -> str:
    """The release, as setup.py reads it (``estimator_ext.__version__`` is this value)."""
    text = (ROOT / "estimator_ext" / "_versions.py").read_text(encoding="utf-8")
    match = re.search(r'^VERSION = "([^"]+)"', text, re.MULTILINE)
    assert match is not None
    return match.group(1)


def _run(args: list[str], cwd: pathlib.Path, env: dict[str, str]) -> str:
    completed = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    assert completed.returncode == 0, (
        f"{' '.join(map(str, args))} exited {completed.returncode}\n"
        f"stdout:\n{completed.stdout[-4000:]}\nstderr:\n{completed.stderr[-4000:]}"
    )
    return completed.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    """The sdist and wheel, built from a copy of the checkout (no build/ left in it)."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], ROOT, dict(os.environ))
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


def test_twine_check_passes_on_both(dist: dict[str, pathlib.Path]) -> None:
    output = _run(
        [
            sys.executable,
            "-m",
            "twine",
            "check",
            "--strict",
            str(dist["wheel"]),
            str(dist["sdist"]),
        ],
        ROOT,
        dict(os.environ),
    )
    assert output.count("PASSED") == 2, output


def test_wheel_holds_the_package_and_py_typed_and_nothing_from_tests(
    dist: dict[str, pathlib.Path],
) -> None:
    version = _version()
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = wheel.namelist()
        metadata = wheel.read(f"estimator_ext-{version}.dist-info/METADATA").decode()
        entry_points = wheel.read(f"estimator_ext-{version}.dist-info/entry_points.txt").decode()
    top_levels = {name.split("/")[0] for name in names}
    assert top_levels == {"estimator_ext", f"estimator_ext-{version}.dist-info"}, top_levels
    assert "estimator_ext/py.typed" in names
    for module in (
        "estimator_ext/_tf_private/members.py",
        "estimator_ext/cli/__init__.py",
        "estimator_ext/export/plan.py",
        "estimator_ext/storage/files.py",
        "estimator_ext/serving/warmup_replay.py",
        "estimator_ext/variables/strategies.py",
        "estimator_ext/patching/targets.py",
    ):
        assert module in names, (module, names)
    assert not [name for name in names if "test" in name.split("/")[-1].lower()]
    assert f"estimator_ext-{version}.dist-info/licenses/LICENSE" in names or any(
        name.endswith("dist-info/LICENSE") for name in names
    )
    assert "License: Apache-2.0" in metadata or "License-Expression: Apache-2.0" in metadata
    assert "Classifier: License :: OSI Approved :: Apache Software License" in metadata
    assert "estimator-ext = estimator_ext.cli:main" in entry_points


def test_sdist_holds_readme_changelog_license_docs_tests_and_examples(
    dist: dict[str, pathlib.Path],
) -> None:
    with tarfile.open(dist["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for required in (
        "README.md",
        "CHANGELOG.md",
        "LICENSE",
        "setup.py",
        "pyproject.toml",
        "constraints/tf2.15.txt",
        "constraints/tf2.12.txt",
        "constraints/tf2.21.txt",
        "constraints/tfma.txt",
        ".ci/matrix/nox-report.json",
        "estimator_ext/py.typed",
        "docs/versions.md",
        "tests/test_package.py",
        "examples/demo.py",
        "examples/data/iris.csv",
        "benchmarks/run_benchmarks.py",
    ):
        assert required in names, required
    # Benchmark results are one machine's measurements: the code ships, they do not.
    assert not [name for name in names if name.startswith("benchmarks/results.")]
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_the_wheel_installs_into_a_fresh_venv_and_runs_the_quickstart(
    dist: dict[str, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    tensorflow_minor = os.environ.get("ESTIMATOR_EXT_PACKAGE_TF", "2.15")
    constraints, extras = INSTALL_BY_TENSORFLOW[tensorflow_minor]
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    env = {
        key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PIP_DISABLE_PIP_VERSION_CHECK="1")
    started = time.monotonic()
    _run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--no-input",
            "-c",
            str(ROOT / constraints),
            f"{dist['wheel']}[{extras}]",
        ],
        tmp_path,
        env,
    )
    if tensorflow_minor in TF_KERAS_BY_TENSORFLOW:
        _run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--no-input",
                "--no-deps",
                f"tf-keras=={TF_KERAS_BY_TENSORFLOW[tensorflow_minor]}",
            ],
            tmp_path,
            env,
        )
    print(f"fresh venv + wheel install (TF {tensorflow_minor}): {time.monotonic() - started:.0f} s")

    work = tmp_path / "work"  # far from the checkout: nothing can import it by accident
    work.mkdir()
    shutil.copytree(ROOT / "examples", work / "examples")
    location = _run(
        [str(python), "-c", "import estimator_ext; print(estimator_ext.__file__)"], work, env
    ).strip()
    assert pathlib.Path(location).resolve().is_relative_to(env_dir.resolve()), location
    assert not pathlib.Path(location).resolve().is_relative_to(ROOT), location

    assert _run([str(env_dir / "bin" / "estimator-ext"), "--version"], work, env).strip() == (
        f"estimator-ext {_version()}"
    )
    exports = work / "exports"
    # 2.16+: the demo's tf.estimator comes back through patch(), as for any legacy script.
    runner = (
        [str(env_dir / "bin" / "estimator-ext"), "run"]
        if tensorflow_minor in TF_KERAS_BY_TENSORFLOW
        else [str(python)]
    )
    demo = _run(
        [*runner, "examples/demo.py", "--export-dir-base", str(exports), "--steps", "50"],
        work,
        env,
    )
    assert "parity: OK" in demo, demo
    (export_dir,) = [path for path in exports.iterdir() if path.is_dir()]
    described = _run(
        [str(env_dir / "bin" / "estimator-ext"), "inspect", str(export_dir)], work, env
    )
    for mode_tag in ("train", "eval", "serve"):
        assert mode_tag in described, described
