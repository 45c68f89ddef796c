"""The export plan: every argument checked once, by one function, naming its caller; one
plan written by ``write_plan`` for any checkpoint."""

from __future__ import annotations

import dataclasses
import inspect
import os

import numpy as np
import pytest
import tensorflow as tf

import estimator_ext
from estimator_ext.export import plan as export_plan
from estimator_ext.export.method import MultiExportMixin
from estimator_ext.export.write import write_plan
from estimator_ext.patching import tf_entry_points
from tests.support import data
from tests.support.data import MK


def test_the_plan_holds_every_argument_checked(trained_linear_classifier, tmp_path):
    source = tmp_path / "notes.txt"
    source.write_text("notes")
    receivers = data.receiver_map()
    plan = export_plan.plan_export(
        "export_all_saved_models",
        trained_linear_classifier,
        os.fsencode(tmp_path / "exports") + b"/",
        {MK.PREDICT: receivers[MK.PREDICT], MK.TRAIN: receivers[MK.TRAIN]},
        assets_extra={"a\\b.txt": str(source)},
        as_text=np.True_,
    )
    assert plan.caller == "export_all_saved_models"
    assert plan.estimator is trained_linear_classifier
    assert plan.export_dir_base == str(tmp_path / "exports")  # bytes decoded, slash dropped
    options = plan.options
    assert options.modes == (MK.TRAIN, MK.PREDICT)  # export order: TRAIN saves the variables
    assert options.assets_extra == (("a/b.txt", str(source)),)
    assert options.as_text is True and options.strip_default_attrs is False
    assert options.warmup is None
    assert options.write_options == export_plan.DEFAULT_WRITE_OPTIONS
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.export_dir_base = "elsewhere"  # type: ignore[misc]


def test_one_plan_is_written_for_two_checkpoints(trained_linear_classifier, tmp_path):
    estimator = trained_linear_classifier
    checkpoints = tf.train.get_checkpoint_state(estimator.model_dir).all_model_checkpoint_paths
    assert len(checkpoints) >= 2
    plan = export_plan.plan_export(
        "export_all_saved_models", estimator, str(tmp_path), data.receiver_map()
    )
    first = write_plan(plan, checkpoints[0])
    second = write_plan(plan, checkpoints[-1])
    assert first != second and sorted(first.modes) == sorted(second.modes)
    for export, checkpoint in ((first, checkpoints[0]), (second, checkpoints[-1])):
        variables = os.path.join(export, "variables", "variables")
        assert tf.train.load_variable(variables, "global_step") == tf.train.load_variable(
            checkpoint, "global_step"
        )
    assert sorted(os.listdir(tmp_path)) == sorted(
        [os.path.basename(first), os.path.basename(second)]
    )


def bad_key_call(caller, estimator, base):
    bad_map = {"predict": data.parsing_serving_receiver_fn()}
    return {
        "export_all_saved_models": lambda: estimator_ext.export_all_saved_models(
            estimator, base, bad_map
        ),
        "AllModesExporter": lambda: estimator_ext.AllModesExporter("all_modes", bad_map),
        "experimental_export_all_saved_models": (
            lambda: tf_entry_points.experimental_export_all_saved_models(estimator, base, bad_map)
        ),
    }[caller]


@pytest.mark.parametrize(
    "caller",
    ["export_all_saved_models", "AllModesExporter", "experimental_export_all_saved_models"],
)
def test_every_caller_gets_the_plan_checks_named_after_itself(
    caller, trained_linear_classifier, tmp_path
):
    base = str(tmp_path / "exports")
    with pytest.raises(ValueError) as raised:
        bad_key_call(caller, trained_linear_classifier, base)()
    message = str(raised.value)
    # The builtin route leads with TF's sentence for a map with no usable mode (its own test).
    message = message[message.find(f"{caller}:") :]
    assert message.startswith(
        f"{caller}: input_receiver_fn_map has key 'predict', which is not a tf.estimator.ModeKeys"
    ), message
    assert "Did you mean ModeKeys.PREDICT ('infer')?" in message
    assert not os.path.exists(base)


def test_argument_errors_name_the_caller_the_argument_and_what_was_received(
    trained_linear_classifier, tmp_path
):
    receivers = data.receiver_map()
    with pytest.raises(TypeError, match=r"^export_all_saved_models: `estimator` must be .* list"):
        estimator_ext.export_all_saved_models([], str(tmp_path), receivers)
    with pytest.raises(TypeError, match=r"^AllModesExporter: assets_extra must be a dict .* list"):
        estimator_ext.AllModesExporter("all_modes", receivers, assets_extra=["a.txt"])
    with pytest.raises(TypeError, match=r"^export_all_saved_models: checkpoint_path must be"):
        estimator_ext.export_all_saved_models(
            trained_linear_classifier, str(tmp_path / "e"), receivers, checkpoint_path=7
        )
    with pytest.raises(
        TypeError, match=r"^experimental_export_all_saved_models: `strip_default_attrs`"
    ):
        export_plan.plan_export(
            "experimental_export_all_saved_models",
            trained_linear_classifier,
            str(tmp_path),
            receivers,
            strip_default_attrs="yes",
        )
    assert sorted(os.listdir(tmp_path)) == []


def test_the_exporter_checks_its_options_when_built_and_plans_each_export(
    trained_linear_classifier, tmp_path
):
    exporter = estimator_ext.AllModesExporter("all_modes", data.receiver_map(), as_text=True)
    assert isinstance(exporter._options, export_plan.ExportOptions)
    with pytest.raises(TypeError, match=r"^AllModesExporter: `estimator` must be"):
        exporter.export(object(), str(tmp_path / "e"), None, None, False)
    export = exporter.export(trained_linear_classifier, str(tmp_path / "e"), None, None, False)
    assert os.path.exists(os.path.join(export, "saved_model.pbtxt"))


def parameters(function, skip):
    return [
        (name, parameter.default)
        for name, parameter in inspect.signature(function).parameters.items()
        if name not in skip
    ]


def test_the_callers_signatures_agree_with_the_plan():
    """The export's parameters, and their defaults, are the plan's: no caller drifts."""
    planned = dict(parameters(export_plan.plan_export, skip={"caller"}))
    function = parameters(estimator_ext.export_all_saved_models, skip={"_write_options"})
    method = parameters(MultiExportMixin.export_all_saved_models, skip={"self"})
    assert [name for name, _ in method] == [name for name, _ in function][1:]
    for name, default in function + method:
        if name != "checkpoint_path":  # the write's argument, not the plan's
            assert name in planned and default in (planned[name], inspect.Parameter.empty), name
    exporter = parameters(estimator_ext.AllModesExporter.__init__, skip={"self", "name"})
    for name, default in exporter:
        if name not in ("exports_to_keep", "reuse_graphs"):
            assert planned[name] == default, name
    public_plan = dict(parameters(estimator_ext.plan_export, skip=set()))
    assert public_plan.pop("reuse_graphs") is True and dict(exporter)["reuse_graphs"] is True
    internal = {name: default for name, default in planned.items() if name != "write_options"}
    assert public_plan == {"estimator": inspect.Parameter.empty, **internal}
    builtin = parameters(tf_entry_points.experimental_export_all_saved_models, skip=set())
    theirs = parameters(tf.compat.v1.estimator.Estimator.experimental_export_all_saved_models, {})
    assert builtin == [("estimator", inspect.Parameter.empty)] + theirs[1:]
