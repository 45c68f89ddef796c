"""Benchmark (issue 22): repeated exports, AllModesExporter reusing its graphs vs the built-in.

    .venv/bin/python benchmarks/run_reuse.py            # 1,000 and 5,000 partition variables,
                                                        # ten checkpoints each: about 1 h
    .venv/bin/python benchmarks/run_reuse.py --quick    # 40 partition variables, 3 checkpoints

For each size of the ``many`` model (``models.py``: partitioned embedding columns, a DNN,
Adagrad), the parent writes ten checkpoints with ONE training step between them (the
first initialised as in ``run_benchmarks.py``, then a step and a save, nine times), then
runs two fresh child processes, one after the other:

* ``reuse``: one ``estimator_ext.AllModesExporter`` (``reuse_graphs=True``, the default)
  exports the ten checkpoints in order, as ``train_and_evaluate`` calls it after each
  evaluation: the first export builds the graphs, the next nine reuse them;
* ``builtin``: ``Estimator.experimental_export_all_saved_models`` is called ten times,
  once per checkpoint.

Each child times every export call, and its receiver and ``model_fn`` calls (the floor),
and measures each export's peak RSS above the process's RSS before its FIRST export (the
kernel's high-water mark reset before each export, backed by a 2 ms sampler). The
``reuse`` child also reports what its plan keeps between exports: the bytes of the stored
``saved_model.pb``, and the RSS growth from before the first export to after the last.

Targets (issue 22): exports 2 to 10 each take <= 0.1x the built-in's time for the same
checkpoint; the ten together <= 0.2x; each export's peak RSS above baseline within the
three-mode figure of docs/benchmarks.md (336 MiB at 1,000, 1,279 MiB at 5,000).

Writes ``reuse_results.md`` and ``reuse_results.json`` in ``--output-dir`` (default:
this folder). Run it on a quiet machine: nothing else should be running.

``--first-only`` measures just the first export (the one that builds the graphs, whose
peak RSS is the highest) of the ``reuse`` method, ``--repeats`` times, each in a fresh
process, from one checkpoint per size; it prints the figures and writes no report:

    .venv/bin/python benchmarks/run_reuse.py --first-only --counts 5000 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MIB = 1024**2
#: Today's peak RSS above baseline, three modes, from docs/benchmarks.md (issue 12's run).
PEAK_TARGET_MIB = {1000: 336, 5000: 1279}
METHODS = ("reuse", "builtin")


# --- the checkpoints -----------------------------------------------------------------------


def write_checkpoints(model_dir: str, partition_variables: int, count: int) -> list[str]:
    """``count`` checkpoints of the many model, one training step apart; returns them."""
    import models
    import numpy as np
    import tensorflow as tf

    models.write_many_checkpoint(model_dir, partition_variables)
    estimator = models.many_estimator(model_dir, partition_variables)
    first = os.path.join(model_dir, "model.ckpt-1")
    with tf.Graph().as_default() as graph:
        tf.compat.v1.train.create_global_step(graph)
        ids = tf.compat.v1.placeholder(tf.int64, [None, models.IDS_PER_ROW], name="ids")
        label = tf.compat.v1.placeholder(tf.float32, [None, 1], name="label")
        spec = estimator.model_fn({"ids": ids}, label, models.MK.TRAIN, estimator.config)
        saver = tf.compat.v1.train.Saver(sharded=True, max_to_keep=count + 1)
        rng = np.random.RandomState(0)
        feed = {
            ids: rng.randint(0, models.MANY_ROWS, size=(32, models.IDS_PER_ROW)),
            label: rng.randint(0, 2, size=(32, 1)).astype(np.float32),
        }
        with tf.compat.v1.Session(graph=graph) as session:
            saver.restore(session, first)
            # The first checkpoint is initialised, not trained: its global step is 0.
            session.run(tf.compat.v1.train.get_global_step().assign(1))
            saver.set_last_checkpoints_with_time([(first, time.time())])
            for _ in range(count - 1):
                session.run(spec.train_op, feed)
                step = session.run(tf.compat.v1.train.get_global_step())
                saver.save(session, os.path.join(model_dir, "model.ckpt"), global_step=step)
    state = tf.train.get_checkpoint_state(model_dir)
    return list(state.all_model_checkpoint_paths)[-count:]


# --- child: one method, every checkpoint -------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path[:0] = [REPO, HERE]
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    import models
    from run_benchmarks import _Floor, _high_water_mark, _reset_high_water_mark, _rss, _Sampler

    import estimator_ext

    estimator = models.many_estimator(args.model_dir, args.partition_variables)
    floor = _Floor()
    receivers = {mode: floor.timed(fn) for mode, fn in models.many_receivers().items()}
    estimator._call_model_fn = floor.timed(estimator._call_model_fn)
    exporter = estimator_ext.AllModesExporter("all_modes", receivers, exports_to_keep=None)
    checkpoints = args.checkpoint_list.split(",")
    baseline = _rss()
    exports = []
    for checkpoint in checkpoints:
        floor_before = floor.seconds
        reset = _reset_high_water_mark()
        sampler = _Sampler()
        sampler.start()
        start = time.perf_counter()
        if args.method == "reuse":
            exporter.export(estimator, args.out_dir, checkpoint, None, False)
        else:
            estimator.experimental_export_all_saved_models(
                args.out_dir, receivers, checkpoint_path=checkpoint
            )
        seconds = time.perf_counter() - start
        peak = max(sampler.stop(), _high_water_mark() if reset else 0)
        exports.append(
            {
                "checkpoint": os.path.basename(checkpoint),
                "seconds": seconds,
                "floor_seconds": floor.seconds - floor_before,
                "peak_above_baseline_bytes": max(0, peak - baseline),
            }
        )
    built = exporter._reuse.built if exporter._reuse is not None else None
    result = {
        "exports": exports,
        "baseline_bytes": baseline,
        "held_rss_bytes": _rss() - baseline,
        "stored_bytes": built.nbytes if built is not None and args.method == "reuse" else 0,
        "published": len(os.listdir(args.out_dir)),
    }
    print("RESULT " + json.dumps(result))


# --- parent ---------------------------------------------------------------------------------


def run_child(argv: list[str]) -> dict[str, Any]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1")
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *argv], capture_output=True, text=True, env=env
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"child {argv} failed ({done.returncode}):\n{done.stderr[-4000:]}")


def measure(count: int, checkpoints: int, workdir: str, settle: float) -> dict[str, Any]:
    model_dir = os.path.join(workdir, f"many-{count}")
    print(f"{count} partition variables: writing {checkpoints} checkpoints", flush=True)
    code = (
        f"import run_reuse; print(','.join(run_reuse.write_checkpoints({model_dir!r}, "
        f"{count}, {checkpoints})))"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=HERE, CUDA_VISIBLE_DEVICES="-1")
    written = subprocess.run(
        [sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True
    )
    paths = written.stdout.strip().splitlines()[-1]
    results = {}
    for method in METHODS:
        subprocess.run(["sync"], check=False)
        time.sleep(settle)
        out_dir = os.path.join(workdir, f"exports-{count}-{method}")
        print(f"  {method}: exporting {checkpoints} checkpoints", flush=True)
        argv = ["--child", "--method", method, "--model-dir", model_dir, "--out-dir", out_dir]
        argv += ["--partition-variables", str(count), "--checkpoint-list", paths]
        results[method] = run_child(argv)
        shutil.rmtree(out_dir, ignore_errors=True)
    return {"partition_variables": count, "checkpoints": checkpoints, **results}


def measure_first(count: int, repeats: int, workdir: str, settle: float) -> list[dict[str, Any]]:
    """The reuse method's first export only, ``repeats`` fresh processes, one checkpoint."""
    model_dir = os.path.join(workdir, f"many-{count}-first")
    checkpoint = os.path.join(model_dir, "model.ckpt-1")
    if os.path.exists(checkpoint + ".index"):  # --workdir of an earlier --keep run
        print(f"{count} partition variables: reusing {checkpoint}", flush=True)
    else:
        print(f"{count} partition variables: writing 1 checkpoint", flush=True)
        code = f"import run_reuse; run_reuse.write_checkpoints({model_dir!r}, {count}, 1)"
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=HERE)
        env["CUDA_VISIBLE_DEVICES"] = "-1"
        subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
    runs = []
    for repeat in range(1, repeats + 1):
        subprocess.run(["sync"], check=False)
        time.sleep(settle)
        out_dir = os.path.join(workdir, f"exports-{count}-first-{repeat}")
        argv = ["--child", "--method", "reuse", "--model-dir", model_dir, "--out-dir", out_dir]
        argv += ["--partition-variables", str(count), "--checkpoint-list", checkpoint]
        first = run_child(argv)
        shutil.rmtree(out_dir, ignore_errors=True)
        export = first["exports"][0]
        limit = PEAK_TARGET_MIB.get(count)
        print(
            f"  run {repeat}: {export['seconds']:.1f} s ({export['floor_seconds']:.1f} s floor), "
            f"peak RSS above baseline {export['peak_above_baseline_bytes'] / MIB:.0f} MiB"
            + ("" if limit is None else f" (target {limit} MiB)")
            + f"; plan keeps {first['stored_bytes'] / MIB:.2f} MiB",
            flush=True,
        )
        runs.append(first)
    return runs


def report(sections: list[dict[str, Any]]) -> list[str]:
    lines = ["# Repeated exports: AllModesExporter (graphs reused) vs the built-in", ""]
    targets = []
    for section in sections:
        count = section["partition_variables"]
        reuse, builtin = section["reuse"]["exports"], section["builtin"]["exports"]
        lines += [
            f"## {count:,} partition variables, three modes, {section['checkpoints']} checkpoints",
            "",
            "| export | built-in s | reuse s | ratio | reuse floor s | peak RSS above "
            "baseline, built-in / reuse MiB |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for number, (ours, theirs) in enumerate(zip(reuse, builtin), start=1):
            ratio = ours["seconds"] / theirs["seconds"]
            lines.append(
                f"| {number} | {theirs['seconds']:.2f} | {ours['seconds']:.2f} | {ratio:.3f}x | "
                f"{ours['floor_seconds']:.2f} | {theirs['peak_above_baseline_bytes'] / MIB:.0f}"
                f" / {ours['peak_above_baseline_bytes'] / MIB:.0f} |"
            )
        total_ours = sum(item["seconds"] for item in reuse)
        total_theirs = sum(item["seconds"] for item in builtin)
        later = [o["seconds"] / t["seconds"] for o, t in zip(reuse[1:], builtin[1:])]
        peak = max(item["peak_above_baseline_bytes"] for item in reuse) / MIB
        held = section["reuse"]
        lines += [
            f"| all | {total_theirs:.1f} | {total_ours:.1f} | {total_ours / total_theirs:.3f}x |"
            " | |",
            "",
            f"The plan keeps {held['stored_bytes'] / MIB:.2f} MiB of saved_model.pb between "
            f"exports; the reuse process's RSS grew {held['held_rss_bytes'] / MIB:.0f} MiB from "
            "before its first export to after its last.",
            "",
        ]
        limit = PEAK_TARGET_MIB.get(count)
        targets += [
            f"- {count:,}: exports 2-{len(reuse)} each <= 0.1x the built-in: "
            f"{'met' if later and max(later) <= 0.1 else 'NOT met'} "
            f"(worst {max(later or [0]):.3f}x)",
            f"- {count:,}: the {len(reuse)} together <= 0.2x: "
            f"{'met' if total_ours <= 0.2 * total_theirs else 'NOT met'} "
            f"({total_ours / total_theirs:.3f}x)",
            f"- {count:,}: peak RSS above baseline within {limit} MiB: "
            + (
                "no target for this size"
                if limit is None
                else ("met" if peak <= limit else "NOT met")
            )
            + f" ({peak:.0f} MiB)",
        ]
    return lines + ["## Targets", ""] + targets + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="40 partition variables, 3 checkpoints"
    )
    parser.add_argument("--counts", default=None, help="partition variables, comma-separated")
    parser.add_argument("--checkpoints", type=int, default=None, help="checkpoints per size")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds after sync per child")
    parser.add_argument("--workdir", default=None, help="where models and exports go (a temp dir)")
    parser.add_argument("--output-dir", default=HERE)
    parser.add_argument("--keep", action="store_true", help="keep the models in --workdir")
    parser.add_argument(
        "--first-only", action="store_true", help="only the reuse method's first export"
    )
    parser.add_argument("--repeats", type=int, default=2, help="runs of --first-only per size")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--method", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", help=argparse.SUPPRESS)
    parser.add_argument("--partition-variables", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint-list", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    counts = [int(c) for c in (args.counts or ("40" if args.quick else "1000,5000")).split(",")]
    checkpoints = args.checkpoints or (3 if args.quick else 10)
    workdir = args.workdir or tempfile.mkdtemp(prefix="estimator_ext_reuse_")
    if args.first_only:
        try:
            for count in counts:
                measure_first(count, args.repeats, workdir, args.settle)
        finally:
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
        return
    try:
        sections = [measure(count, checkpoints, workdir, args.settle) for count in counts]
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    lines = report(sections)
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "reuse_results.md"), "w") as markdown:
        markdown.write("\n".join(lines))
    with open(os.path.join(args.output_dir, "reuse_results.json"), "w") as raw:
        json.dump(sections, raw, indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
