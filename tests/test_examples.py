"""Runs every script in examples/ as a user would (a subprocess) and checks what it prints.

Each example checks its own parity (export vs. estimator) and exits 1 when it fails, so the
exit code is the main assertion; the printed lines show that each step really happened.
"""

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support import estimator_namespaces
from tests.support.tensorflow_output import without_tensorflow_startup

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "examples"
IRIS_CSV_SHA256 = "f13ffa8fdd56fd8e6c8d16d4081a3fbd3114bcd0aae4256c43205169cd9d1449"


def example_command(script: str, *args: str) -> list:
    """``python examples/SCRIPT ARGS``; ``python -m estimator_ext run ...`` on TF 2.16+.

    TensorFlow 2.16 and later have no ``tf.estimator``, which the examples use as TF 2.15
    users write it: there they run through ``estimator-ext run``, the documented way to run
    Estimator code (docs/cli.md), which restores it.
    """
    lacks = estimator_namespaces.tensorflow_lacks_estimator()
    runner = ["-m", "estimator_ext", "run"] if lacks else []
    return [sys.executable, *runner, str(EXAMPLES / script), *args]


def run_example(script: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # Import estimator_ext from this checkout whether or not it is pip-installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    completed = subprocess.run(
        example_command(script, *args),
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, (
        f"{script} exited {completed.returncode}\n"
        f"--- stdout\n{completed.stdout}\n--- stderr\n{completed.stderr}"
    )
    return completed


def exported_dirs(export_dir_base: Path) -> list:
    return sorted(path for path in export_dir_base.iterdir() if path.name.isdigit())


def test_demo_exports_three_modes_and_prints_parity(tmp_path):
    export_dir_base = tmp_path / "exports"
    completed = run_example("demo.py", tmp_path, "--export-dir-base", str(export_dir_base))
    out = completed.stdout

    assert "Iris: 150 rows" in out
    assert re.search(r"Trained \d+ steps: accuracy 0\.9\d\d", out), out
    assert "Exported train, eval, infer to " in out
    for tags in (
        "tags ['train']  (train op in saved_model_train_op)",
        "tags ['eval']",
        "tags ['serve']",
    ):
        assert tags in out
    for signature in (
        "signature 'train'",
        "signature 'eval'",
        "signature 'predict'",
        "signature 'serving_default'",
    ):
        assert signature in out
    assert "inputs : label int64 [-1], petal_length float32 [-1]" in out
    assert "metrics/accuracy/value float32 []" in out
    # serving_default is the classifier head's own classification output (the parsing
    # receiver serves it), not the predict-outputs fallback, so nothing is warned about.
    serving = out.split("tags ['serve']", 1)[1]
    assert "signature 'classification'" in serving
    default = serving.split("signature 'serving_default'", 1)[1]
    assert "inputs : inputs string [-1]" in default
    assert "outputs: classes string [-1, 3], scores float32 [-1, 3]" in default
    stderr = "\n".join(without_tensorflow_startup(completed.stderr))
    assert "WARNING" not in out and "WARNING" not in stderr, completed.stderr
    assert "export (tf.saved_model.load, serving_default):" in out
    assert "estimator.predict                            :" in out
    assert "parity: OK" in out

    # One complete export, nothing else (no temporaries), and nothing in the repo's demo_output.
    (export_dir,) = exported_dirs(export_dir_base)
    assert sorted(path.name for path in export_dir_base.iterdir()) == [export_dir.name]
    assert (export_dir / "saved_model.pb").is_file()
    assert (export_dir / "variables" / "variables.index").is_file()


def test_demo_prediction_lines_agree(tmp_path):
    completed = run_example(
        "demo.py", tmp_path, "--export-dir-base", str(tmp_path / "e"), "--row", "0", "--steps", "50"
    )
    export_line, estimator_line = [
        line.split(":", 1)[1]
        for line in completed.stdout.splitlines()
        if line.startswith(("  export (", "  estimator.predict"))
    ]
    assert export_line.strip() == estimator_line.strip()
    assert export_line.strip().endswith("-> setosa")  # row 0 is a setosa, and easy


def test_function_form_train_eval_predict_graphs_work(tmp_path):
    export_dir_base = tmp_path / "exports"
    completed = run_example("function_form.py", tmp_path, "--export-dir-base", str(export_dir_base))
    out = completed.stdout

    assert "Exported train, eval, infer to one SavedModel" in out
    match = re.search(r"global_step (\d+) -> (\d+)", out)
    assert match and int(match.group(2)) == int(match.group(1)) + 20, out
    for line in ("TRAIN train op: OK", "EVAL parity: OK", "PREDICT parity: OK"):
        assert line in out
    assert len(exported_dirs(export_dir_base)) == 1


def test_custom_model_fn_exports_assets_and_signatures(tmp_path):
    completed = run_example(
        "custom_model_fn.py", tmp_path, "--export-dir-base", str(tmp_path / "exports")
    )
    out = completed.stdout

    assert "Exported train, eval, infer to " in out
    assert "assets.extra/docs/model_card.md" in out
    assert "assets/colours.txt" in out
    assert "serve signatures: logit -> ['logit'], serving_default -> ['probability']" in out
    assert "assets: OK" in out
    assert "parity: OK" in out


def test_custom_model_fn_runs_without_arguments_in_a_temp_dir(tmp_path):
    """As a plain script: writes only to its own temporary directory, which it removes."""
    completed = run_example("custom_model_fn.py", tmp_path, "--steps", "20")
    assert "parity: OK" in completed.stdout
    assert list(tmp_path.iterdir()) == []


def test_iris_csv_is_the_shipped_scikit_learn_file():
    """examples/data/iris.csv is byte-for-byte scikit-learn's copy (provenance in
    data/README.md)."""
    data = (EXAMPLES / "data" / "iris.csv").read_bytes()
    assert hashlib.sha256(data).hexdigest() == IRIS_CSV_SHA256
    lines = data.decode("utf-8").splitlines()
    assert lines[0] == "150,4,setosa,versicolor,virginica"
    labels = [line.rsplit(",", 1)[1] for line in lines[1:]]
    assert len(labels) == 150 and {label: labels.count(label) for label in set(labels)} == {
        "0": 50,
        "1": 50,
        "2": 50,
    }
    assert IRIS_CSV_SHA256 in (EXAMPLES / "data" / "README.md").read_text(encoding="utf-8")
