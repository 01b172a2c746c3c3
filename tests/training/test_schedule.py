import math

import keras
import numpy as np
import pytest

from training.schedule import Action, DecaySchedule, MethodSchedule

pytestmark = pytest.mark.ml

CURVE = [1.0, 0.8, 0.9, 0.7, 0.75, 0.8]


def _run(curve, **kwargs):
    schedule = DecaySchedule(learning_rate=1e-3, **{"max_epochs": 100, **kwargs})
    steps = []
    for loss in curve:
        steps.append(schedule.step(loss))
        if schedule.stopped:
            break
    return schedule, steps


def test_it_decays_when_validation_worsens_and_stops_when_it_worsens_right_after():
    schedule, steps = _run(CURVE)
    assert [s.action for s in steps] == [
        Action.CONTINUE,
        Action.CONTINUE,
        Action.DECAY,
        Action.CONTINUE,
        Action.DECAY,
        Action.STOP,
    ]
    assert schedule.decay_epochs == [2, 4]
    assert schedule.best_epoch == 3
    assert schedule.stopped_early
    assert [s.learning_rate for s in steps] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5])
    assert [s.is_best for s in steps] == [True, True, False, True, False, False]


def test_it_compares_with_the_previous_epoch_not_with_the_best():
    # 0.85 is worse than the best (0.8) but better than the epoch before it (0.9).
    _, steps = _run([1.0, 0.8, 0.9, 0.85, 0.84])
    assert [s.action for s in steps][3:] == [Action.CONTINUE, Action.CONTINUE]


def test_two_worsening_epochs_in_a_row_stop_the_run():
    schedule, steps = _run([1.0, 1.1, 1.2, 0.5])
    assert [s.action for s in steps] == [Action.CONTINUE, Action.DECAY, Action.STOP]
    assert schedule.best_epoch == 0


def test_max_epochs_caps_the_run_without_counting_as_early_stop():
    schedule, steps = _run([1.0, 0.9, 0.8, 0.7], max_epochs=3)
    assert [s.action for s in steps] == [Action.CONTINUE, Action.CONTINUE, Action.STOP]
    assert not schedule.stopped_early


def test_it_stops_instead_of_decaying_past_max_decays():
    schedule, steps = _run([1.0, 1.1, 1.0, 1.1, 1.0, 1.1, 1.0, 1.1, 1.0], max_decays=3)
    assert schedule.decay_epochs == [1, 3, 5]
    assert steps[-1].epoch == 7 and steps[-1].action is Action.STOP


def test_a_worsening_whose_decay_would_pass_the_floor_stops_the_run():
    # 1e-3 → 1e-4 is allowed by a floor of 1e-4; the next decay (to 1e-5) is not.
    schedule, steps = _run([1.0, 1.1, 1.0, 1.1, 1.0], min_learning_rate=1e-4)
    assert [s.action for s in steps] == [
        Action.CONTINUE,
        Action.DECAY,
        Action.CONTINUE,
        Action.STOP,
    ]
    assert steps[-1].learning_rate == pytest.approx(1e-4)
    assert schedule.stopped_early


def test_without_a_floor_the_same_curve_decays_again():
    _, steps = _run([1.0, 1.1, 1.0, 1.1, 1.0])
    assert steps[3].action is Action.DECAY


def test_patience_stops_a_run_whose_loss_no_longer_beats_its_best():
    # Never two worsenings in a row, so the method's rule alone would run on.
    curve = [1.0, 0.5, 0.6, 0.55, 0.58, 0.56, 0.57, 0.56]
    _, alone = _run(curve)
    assert Action.STOP not in [s.action for s in alone]
    schedule, steps = _run(curve, patience=3)
    assert steps[-1].epoch == 4 and steps[-1].action is Action.STOP
    assert schedule.best_epoch == 1 and schedule.stopped_early


def test_a_floor_above_the_rate_or_a_patience_of_zero_is_refused():
    with pytest.raises(ValueError, match="min_learning_rate"):
        DecaySchedule(learning_rate=1e-3, max_epochs=5, min_learning_rate=1e-2)
    with pytest.raises(ValueError, match="patience"):
        DecaySchedule(learning_rate=1e-3, max_epochs=5, patience=0)


def test_a_nan_loss_counts_as_worse_and_is_never_best():
    schedule, steps = _run([1.0, math.nan, math.nan])
    assert [s.action for s in steps] == [Action.CONTINUE, Action.DECAY, Action.STOP]
    assert schedule.best_epoch == 0


def test_a_stopped_schedule_refuses_more_epochs():
    schedule, _ = _run([1.0, 1.1, 1.2])
    with pytest.raises(RuntimeError):
        schedule.step(0.5)


class _ScriptedValLoss(keras.callbacks.Callback):
    """Replaces the real val_loss with a scripted one and snapshots weights per epoch."""

    def __init__(self, curve):
        super().__init__()
        self.curve = curve
        self.weights = []
        self.learning_rates = []

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.curve[epoch]
        self.weights.append(self.model.get_weights())
        self.learning_rates.append(float(self.model.optimizer.learning_rate))


def test_the_callback_drives_a_real_fit_and_restores_the_best_weights():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    script = _ScriptedValLoss(CURVE)
    schedule = MethodSchedule(learning_rate=0.1, max_epochs=50)
    history = model.fit(
        x,
        y,
        validation_data=(x, y),
        epochs=50,
        batch_size=16,
        callbacks=[script, schedule],
        verbose=0,
    )
    assert len(history.history["loss"]) == 6
    assert history.history["lr"] == pytest.approx([0.1, 0.1, 0.1, 0.01, 0.01, 0.001])
    # The learning rate in force during each epoch (read by the script before the schedule
    # acts on that epoch).
    assert script.learning_rates == pytest.approx([0.1, 0.1, 0.1, 0.01, 0.01, 0.001])
    assert schedule.best_epoch == 3 and schedule.stopped_early
    for restored, best in zip(model.get_weights(), script.weights[3], strict=True):
        np.testing.assert_array_equal(restored, best)
    assert not np.array_equal(model.get_weights()[0], script.weights[5][0])


def test_the_callback_explains_a_missing_validation_loss():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((4, 2), "float32")
    with pytest.raises(KeyError, match="validation data"):
        model.fit(
            x,
            x[:, :1],
            epochs=1,
            callbacks=[MethodSchedule(learning_rate=0.1, max_epochs=1)],
            verbose=0,
        )
