"""The undo log behind patch()/unpatch(), alone: plain Python objects, no TensorFlow."""

from __future__ import annotations

import sys
import types

import pytest

from estimator_ext.patching.recorder import MISSING, Recorder, current_value


class Base:
    inherited = "base"


class Child(Base):
    own = "child"


class Refusing:
    """An object whose attribute assignment fails."""

    def __setattr__(self, name, value):
        raise AttributeError(f"read-only: {name}")


def test_setattr_is_undone_to_the_previous_value():
    target = types.SimpleNamespace(value=1)
    recorder = Recorder()
    recorder.setattr("target.value", target, "value", 2)
    assert target.value == 2 and recorder.labels == ("target.value",)
    assert recorder.undo() == ("target.value",)
    assert target.value == 1 and len(recorder) == 0


def test_an_attribute_that_did_not_exist_is_deleted_again():
    target = types.SimpleNamespace()
    recorder = Recorder()
    recorder.setattr("target.new", target, "new", "x")
    recorder.undo()
    assert not hasattr(target, "new")


def test_on_a_class_only_its_own_dict_counts():
    recorder = Recorder()
    recorder.setattr("Child.inherited", Child, "inherited", "patched")
    recorder.undo()
    # The inherited value was NOT copied onto the subclass: it is inherited again.
    assert "inherited" not in Child.__dict__ and Child.inherited == "base"
    Base.inherited = "changed later"
    try:
        assert Child.inherited == "changed later"
    finally:
        Base.inherited = "base"


def test_changes_are_undone_in_reverse_order():
    target = types.SimpleNamespace(value="original")
    recorder = Recorder()
    recorder.setattr("first", target, "value", "first")
    recorder.setattr("second", target, "value", "second")
    assert recorder.undo() == ("first", "second")
    assert target.value == "original"  # reverse order: the oldest previous value wins


def test_a_change_that_fails_is_not_recorded():
    target = Refusing()
    recorder = Recorder()
    with pytest.raises(AttributeError, match="read-only"):
        recorder.setattr("refusing.x", target, "x", 1)
    assert len(recorder) == 0 and recorder.undo() == ()


def test_setitem_restores_or_removes_the_key():
    mapping = {"kept": 1}
    recorder = Recorder()
    recorder.setitem("mapping['kept']", mapping, "kept", 2)
    recorder.setitem("mapping['new']", mapping, "new", 3)
    assert mapping == {"kept": 2, "new": 3}
    recorder.undo()
    assert mapping == {"kept": 1}


def test_setitem_on_sys_modules_is_undone():
    name = "estimator_ext_test_recorder_fake_module"
    recorder = Recorder()
    recorder.setitem(f"sys.modules[{name!r}]", sys.modules, name, types.ModuleType(name))
    assert name in sys.modules
    recorder.undo()
    assert name not in sys.modules


def test_delattr_is_undone_by_putting_the_attribute_back():
    target = types.SimpleNamespace(value=1)
    recorder = Recorder()
    recorder.delattr("target.value", target, "value")
    assert not hasattr(target, "value")
    recorder.undo()
    assert target.value == 1


def test_delattr_of_a_missing_attribute_raises_or_is_ignored():
    target = types.SimpleNamespace()
    recorder = Recorder()
    with pytest.raises(AttributeError, match=r"has no attribute 'absent'.*raising=False"):
        recorder.delattr("target.absent", target, "absent")
    recorder.delattr("target.absent", target, "absent", raising=False)
    assert len(recorder) == 0


def test_delattr_on_a_class_does_not_reach_an_inherited_attribute():
    recorder = Recorder()
    with pytest.raises(AttributeError, match="of its own"):
        recorder.delattr("Child.inherited", Child, "inherited")
    recorder.delattr("Child.own", Child, "own")
    assert not hasattr(Child, "own")
    recorder.undo()
    assert Child.__dict__["own"] == "child"


def test_forget_keeps_a_change_permanently():
    target = types.SimpleNamespace(a=1, b=1)
    recorder = Recorder()
    recorder.setattr("target.a", target, "a", 2)
    recorder.setattr("target.b", target, "b", 2)
    recorder.forget(target, "a")
    assert recorder.undo() == ("target.b",)
    assert target.a == 2 and target.b == 1


def test_recorders_are_independent():
    target = types.SimpleNamespace(value=1)
    first, second = Recorder(), Recorder()
    first.setattr("first", target, "value", 2)
    assert second.undo() == () and target.value == 2
    first.undo()
    assert target.value == 1


def test_an_undo_that_fails_keeps_the_rest_for_a_retry():
    class Flaky:
        fail = True

        def __setattr__(self, name, value):
            if Flaky.fail and value == "original":
                raise RuntimeError("not now")
            object.__setattr__(self, name, value)

    flaky, plain = Flaky(), types.SimpleNamespace(value="original")
    object.__setattr__(flaky, "value", "original")
    recorder = Recorder()
    recorder.setattr("plain", plain, "value", "patched")
    recorder.setattr("flaky", flaky, "value", "patched")
    with pytest.raises(RuntimeError, match="not now"):
        recorder.undo()
    assert recorder.labels == ("plain", "flaky") and plain.value == "patched"
    Flaky.fail = False
    assert recorder.undo() == ("plain", "flaky")
    assert plain.value == "original" and flaky.value == "original"


def test_current_value_reports_missing():
    assert current_value(types.SimpleNamespace(), "nothing") is MISSING
    assert current_value(Child, "inherited") is MISSING and current_value(Child, "own") == "child"
    assert repr(MISSING) == "<missing>"
