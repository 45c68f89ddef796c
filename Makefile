# estimator_ext: the two commands a fresh clone needs.
#
#   make demo    venv + pinned install (first run only), then examples/demo.py
#   make test    venv + pinned install (first run only), then pytest over tests/
#   make venv    just the venv and the install
#   make test-tfma   TensorFlow Model Analysis over our exports, in its own venv (below)
#   make lint    ruff check, ruff format --check, mypy (the lint extra, pinned)
#   make package build sdist + wheel, twine check, install the wheel in a fresh venv, demo
#   make corner  the oldest supported corner, TF 2.12 on Python 3.9, through nox
#   make corner-newest  the newest corner, TF 2.21 on the newest Python found, through nox
#   make forward the forward-loading test: a TF 2.15 export read on TF 2.21 (tests/forward/)
#
# The venv is .venv (override with VENV=...), made with the first of $(PYTHON),
# python3.11, python3.10, python3.9, python3 that is Python 3.9-3.11 (TensorFlow 2.15's
# range). Dependencies come from setup.py's extras, pinned by constraints/tf2.15.txt. A stamp
# file inside the venv records the install, so later runs skip it until setup.py or
# constraints/tf2.15.txt change. No target ever deletes a venv.
#
# `make test-tfma` runs tests/tfma/ in a second venv, .venv-tfma (TFMA_VENV=...), made the
# same way: TFMA 0.46.0 needs the full `tensorflow` package by name and about 3 GB of
# pipeline dependencies (apache-beam[gcp], tfx-bsl, pyarrow 10), pinned apart in
# constraints/tfma.txt. `make test` leaves tests/tfma/ out (TEST_MARKERS).

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?=
EXTRAS ?= cpu,test,s3
CONSTRAINTS ?= constraints/tf2.15.txt
TESTS ?= tests/
PYTEST_TIMEOUT ?= 900
# pytest-xdist workers of `make test` (empty: one process), scheduled by work stealing. Two on
# the 2-core CI machine: the object-store reliability tests, which wait on store timeouts for
# minutes, start first (tests/conftest.py) and overlap with the CPU-bound tests; each worker
# trains the shared models once.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=
# Which tests `make test` runs, as a pytest marker expression (markers: pyproject.toml;
# tests/conftest.py marks tests/tfma/, tests/reliability/, tests/distributed/ by folder):
# tests/tfma/ needs .venv-tfma (make test-tfma), tests/test_package.py is `make package`.
# tests/forward/ needs a second venv with the newest TensorFlow (make forward).
TEST_MARKERS ?= not tfma and not package and not forward
# Installed next to '.[$(EXTRAS)]' (test-tfma: the test runner without the main test extra).
EXTRA_PACKAGES ?=
TFMA_VENV ?= .venv-tfma
TFMA_EXTRAS ?= tf,tfma
TFMA_CONSTRAINTS ?= constraints/tfma.txt
TFMA_TESTS ?= tests/tfma/
TF_SERVING_API_VERSION ?= 2.15.1

VENV_PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.estimator-ext-installed
SUPPORTED_PYTHON_CHECK := import sys; sys.exit(0 if (3, 9) <= sys.version_info[:2] <= (3, 11) else 1)
PIP_FLAGS := --no-input --disable-pip-version-check $(if $(CI),--progress-bar off,)

export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help venv demo test test-tfma clean lint package corner corner-newest forward

help:
	@echo "make demo   create the venv if needed, install pinned deps, run examples/demo.py"
	@echo "make test   create the venv if needed, install pinned deps, run the test suite"
	@echo "make venv   create the venv and install only"
	@echo "make test-tfma  the TFMA tests (tests/tfma/) in their own venv, $(TFMA_VENV) (~3 GB, ~4 min once)"
	@echo "make lint   ruff check, ruff format --check and mypy (installs the lint extra)"
	@echo "make package  build, twine check, install the wheel into a fresh venv, run the demo"
	@echo "make corner   the full suite on TF 2.12 / Python 3.9 through nox (.ci/matrix/nox-report.json)"
	@echo "make corner-newest  the newest corner, TF 2.21 on the newest Python found (3.13 ... 3.10), through nox"
	@echo "make forward  a TF 2.15 export (made in $(VENV)) read on TF 2.21 in a nox venv of its own"
	@echo "make clean  remove demo_output/ and build files (never the venv)"
	@echo "variables: VENV=$(VENV) PYTHON=<interpreter> EXTRAS=$(EXTRAS) TESTS=$(TESTS) PYTEST_TIMEOUT=$(PYTEST_TIMEOUT) PYTEST_WORKERS=$(PYTEST_WORKERS) PYTEST_ARGS=..."

venv: $(STAMP)

# Create the venv, choosing an interpreter TensorFlow 2.15 supports.
$(VENV_PYTHON):
	@chosen=""; \
	for candidate in $(PYTHON) python3.11 python3.10 python3.9 python3; do \
	  if command -v "$$candidate" >/dev/null 2>&1 && \
	     "$$candidate" -c '$(SUPPORTED_PYTHON_CHECK)' >/dev/null 2>&1; then \
	    chosen="$$candidate"; break; \
	  fi; \
	done; \
	if [ -z "$$chosen" ]; then \
	  echo "error: no Python 3.9, 3.10 or 3.11 found (tried: $(PYTHON) python3.11 python3.10 python3.9 python3;" >&2; \
	  echo "       python3 is $$(python3 --version 2>&1 || echo 'missing'))." >&2; \
	  echo "       TensorFlow 2.15, the last release with tf.estimator, has wheels for 3.9-3.11 only." >&2; \
	  echo "       Install one (e.g. apt-get install python3.11 python3.11-venv, or pyenv install 3.11)," >&2; \
	  echo "       or point to it: make PYTHON=/path/to/python3.11 $(MAKECMDGOALS)" >&2; \
	  exit 1; \
	fi; \
	echo "Creating $(VENV) with $$chosen ($$("$$chosen" --version 2>&1))"; \
	"$$chosen" -m venv "$(VENV)"

# Install (editable) with the pinned versions; only when setup.py or the constraints change.
$(STAMP): setup.py $(CONSTRAINTS) | $(VENV_PYTHON)
	@if ! "$(VENV_PYTHON)" -c '$(SUPPORTED_PYTHON_CHECK)'; then \
	  echo "error: $(VENV) runs $$("$(VENV_PYTHON)" --version 2>&1); estimator_ext needs Python 3.9-3.11." >&2; \
	  echo "       This Makefile never deletes a venv: move $(VENV) aside yourself, or use another" >&2; \
	  echo "       one: make VENV=.venv311 $(MAKECMDGOALS)" >&2; \
	  exit 1; \
	fi
	"$(VENV_PYTHON)" -m pip install $(PIP_FLAGS) -c "$(CONSTRAINTS)" -e '.[$(EXTRAS)]' $(EXTRA_PACKAGES)
	@# TF Serving's protos for warmup_requests: the package requires the full `tensorflow`
	@# by name (a second TensorFlow beside tensorflow-cpu), so no deps; the protos need
	@# only what tensorflow-cpu provides. Pinned here and in constraints/tf2.15.txt.
	"$(VENV_PYTHON)" -m pip install $(PIP_FLAGS) --no-deps tensorflow-serving-api==$(TF_SERVING_API_VERSION)
	@touch "$(STAMP)"

demo: $(STAMP)
	"$(VENV_PYTHON)" examples/demo.py

# pytest exits non-zero on any failure or error; exit code 5 (nothing collected) is
# reported as its own error rather than passing silently.
test: $(STAMP)
	@status=0; \
	"$(VENV_PYTHON)" -m pytest $(TESTS) -m "$(TEST_MARKERS)" $(if $(PYTEST_WORKERS),-n $(PYTEST_WORKERS) --dist worksteal) -ra --timeout=$(PYTEST_TIMEOUT) $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests in $(TESTS)" >&2; fi; \
	exit $$status

# Tools for lint/package/corner, pinned by constraints/tf2.15.txt; a stamp of their own.
TOOLS_STAMP := $(VENV)/.estimator-ext-tools-installed
$(TOOLS_STAMP): setup.py $(CONSTRAINTS) | $(STAMP)
	"$(VENV_PYTHON)" -m pip install $(PIP_FLAGS) -c "$(CONSTRAINTS)" -e '.[$(EXTRAS),lint,package]' nox
	@touch "$(TOOLS_STAMP)"

# All three linters run; the target fails if any of them found something.
lint: $(TOOLS_STAMP)
	@status=0; \
	"$(VENV)/bin/ruff" check . || status=1; \
	"$(VENV)/bin/ruff" format --check . || status=1; \
	"$(VENV)/bin/mypy" || status=1; \
	exit $$status

# tests/test_package.py is deselected from `make test` (marker `package`, pyproject.toml).
package: $(TOOLS_STAMP)
	"$(VENV_PYTHON)" -m pytest tests/test_package.py -m package -ra -s --timeout=$(PYTEST_TIMEOUT) $(PYTEST_ARGS)

# The oldest corner; nox finds Python 3.9 under $$(pyenv root)/versions itself.
CORNER_SESSION ?= tests-tf2.12-py3.9
NOX_REPORT ?= .ci/matrix/nox-report.json
# The corner sessions leave out tests/reliability/ and tests/distributed/ themselves (noxfile.py's
# CORNER_MARKERS), which fits CI's budget (corner + lint + package <= 15 min on 2 cores; the
# whole suite alone takes ~17 min there); both run on TF 2.15 in `make test`.
# CORNER_PYTEST_ARGS reach pytest as nox posargs and are recorded in .ci/matrix/results/
# (pytest_args).
CORNER_PYTEST_ARGS ?=
corner: $(TOOLS_STAMP)
	"$(VENV)/bin/nox" -s $(CORNER_SESSION) --report "$(NOX_REPORT)" \
	  $(if $(strip $(CORNER_PYTEST_ARGS) $(NOX_ARGS)),-- $(CORNER_PYTEST_ARGS) $(NOX_ARGS),)

# The newest corner: the nox session tagged corner-newest, TF 2.21 on the newest Python that
# noxfile.py finds among 3.13, 3.12, 3.11, 3.10 (pyenv's versions, else python3.X on PATH, as
# for the oldest corner's 3.9): tests-tf2.21-py3.13 here. Its marker subset and why: noxfile.py.
# Its report is a part of the matrix's (docs/make_versions_table.py merges the parts).
NEWEST_CORNER_PYTEST_ARGS ?=
NEWEST_CORNER_REPORT ?= .ci/matrix/nox-report-corner-newest.json
corner-newest: $(TOOLS_STAMP)
	"$(VENV)/bin/nox" -t corner-newest --report "$(NEWEST_CORNER_REPORT)" \
	  $(if $(strip $(NEWEST_CORNER_PYTEST_ARGS) $(NOX_ARGS)),-- $(NEWEST_CORNER_PYTEST_ARGS) $(NOX_ARGS),)

# The forward-loading test (issue 23): tests/forward/ runs in $(VENV) (TF 2.15, which makes the
# export) and reads the export there and in nox's `forward` venv, TF 2.21 alone on the newest
# corner's Python (ESTIMATOR_EXT_FORWARD_PYTHON). Without that variable the test skips, or
# fails under CI.
forward: $(TOOLS_STAMP)
	FORWARD_FROM_VENV="$(VENV)" "$(VENV)/bin/nox" -s forward $(if $(strip $(NOX_ARGS)),-- $(NOX_ARGS),)

# The same venv and test recipe as `test`, on the TFMA venv, extras and constraints: the
# full `tensorflow` (TFMA requires it by name) instead of tensorflow-cpu, and pytest plus
# pytest-timeout instead of the main test extra (moto etc. are not needed here).
# constraints/tfma.txt is resolved for Python 3.10 and 3.11 only (see its header).
test-tfma:
	@$(MAKE) --no-print-directory "$(TFMA_VENV)/bin/python" VENV="$(TFMA_VENV)"
	@if ! "$(TFMA_VENV)/bin/python" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 11) else 1)'; then \
	  echo "error: $(TFMA_VENV) runs $$("$(TFMA_VENV)/bin/python" --version 2>&1); $(TFMA_CONSTRAINTS) pins the TFMA" >&2; \
	  echo "       venv for Python 3.10 and 3.11 (many of its pins have no 3.9 release). Use one:" >&2; \
	  echo "       make test-tfma TFMA_VENV=.venv-tfma311 PYTHON=python3.11" >&2; \
	  exit 1; \
	fi
	@$(MAKE) --no-print-directory test VENV="$(TFMA_VENV)" EXTRAS="$(TFMA_EXTRAS)" \
	  CONSTRAINTS="$(TFMA_CONSTRAINTS)" TESTS="$(TFMA_TESTS)" TEST_MARKERS=tfma PYTEST_WORKERS= \
	  EXTRA_PACKAGES="pytest pytest-timeout"

clean:
	rm -rf demo_output build dist *.egg-info
