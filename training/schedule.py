"""The method's training schedule.

After each epoch the validation loss is compared with the previous epoch's:

- it did not worsen → carry on;
- it worsened → divide the learning rate by 10 and carry on;
- it worsened again on the epoch right after such a decay → stop.

Two guards the method leaves implicit: ``max_epochs`` caps the run, and once the rate has
been decayed ``max_decays`` times (10⁻³ of where it started: nothing more is being learnt) the
next worsening stops the run instead of decaying a fourth time; without it a run whose loss
wobbles at a negligible rate would decay forever.

Two more for runs whose epochs cost minutes (fine-tuning on pixels), both off by default:
``min_learning_rate`` is a floor (a worsening whose decay would take the rate below it stops
the run: at the floor nothing more is being learnt), and ``patience`` stops a run whose
validation loss has not beaten its best for that many epochs, which the method's rule alone
lets run to ``max_epochs`` when the loss drifts down by crumbs and up by crumbs in turn.

Whatever happens, the weights of the epoch with the lowest validation loss are the ones
kept. ``DecaySchedule`` is the rule alone, a plain state machine
fed one loss per epoch; ``MethodSchedule`` is the Keras callback that drives ``model.fit``
with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

import keras


class Action(str, Enum):
    CONTINUE = "continue"
    DECAY = "decay"
    STOP = "stop"


@dataclass(frozen=True)
class Step:
    """What the schedule decided after one epoch."""

    epoch: int
    action: Action
    learning_rate: float  # the rate for the next epoch
    is_best: bool  # this epoch's weights are the best so far: keep them


@dataclass
class DecaySchedule:
    learning_rate: float
    max_epochs: int
    decay: float = 0.1
    max_decays: int = 3
    # A change smaller than this is not "worse": float noise must not trigger a decay.
    min_delta: float = 0.0
    min_learning_rate: float = 0.0
    patience: int | None = None

    epoch: int = field(default=0, init=False)
    best_epoch: int | None = field(default=None, init=False)
    best_loss: float = field(default=math.inf, init=False)
    decay_epochs: list[int] = field(default_factory=list, init=False)
    stopped: bool = field(default=False, init=False)
    # True when the rule stopped the run, False when it ran to max_epochs.
    stopped_early: bool = field(default=False, init=False)
    _previous_loss: float | None = field(default=None, init=False)
    _decayed_last_epoch: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.max_epochs < 1:
            raise ValueError(f"max_epochs must be at least 1, got {self.max_epochs}")
        if not 0 < self.decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {self.decay}")
        if not 0 <= self.min_learning_rate <= self.learning_rate:
            raise ValueError(
                f"min_learning_rate must be in [0, {self.learning_rate}], "
                f"got {self.min_learning_rate}"
            )
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be at least 1, got {self.patience}")

    def step(self, val_loss: float) -> Step:
        """Feed the validation loss of the epoch just finished; returns the decision."""
        if self.stopped:
            raise RuntimeError("the schedule has already stopped")
        loss = float(val_loss)
        # A NaN loss counts as worse than anything: the run diverged.
        finite = math.isfinite(loss)
        is_best = finite and loss < self.best_loss
        if is_best:
            self.best_loss, self.best_epoch = loss, self.epoch
        worse = self._previous_loss is not None and (
            not finite or loss > self._previous_loss + self.min_delta
        )
        # Relative slack: 1e-4 decayed twice is 1e-6 give or take a rounding.
        below_floor = self.learning_rate * self.decay < self.min_learning_rate * (1 - 1e-9)
        stale = (
            self.patience is not None
            and self.best_epoch is not None
            and self.epoch - self.best_epoch >= self.patience
        )
        if stale or (
            worse
            and (
                self._decayed_last_epoch or len(self.decay_epochs) >= self.max_decays or below_floor
            )
        ):
            action = Action.STOP
            self.stopped_early = True
        elif worse:
            action = Action.DECAY
            self.learning_rate *= self.decay
            self.decay_epochs.append(self.epoch)
        else:
            action = Action.CONTINUE
        if action is not Action.STOP and self.epoch + 1 >= self.max_epochs:
            action = Action.STOP
        self._decayed_last_epoch = action is Action.DECAY
        self._previous_loss = loss if finite else math.inf
        self.stopped = action is Action.STOP
        result = Step(self.epoch, action, self.learning_rate, is_best)
        self.epoch += 1
        return result


class MethodSchedule(keras.callbacks.Callback):
    """Keras callback applying ``DecaySchedule`` to the model's optimizer.

    It sets the optimizer's learning rate at the start, keeps a copy of the best epoch's
    weights in memory and puts them back when training ends, however it ends. The learning
    rate of each epoch is added to the logs as ``lr``.
    """

    def __init__(
        self,
        *,
        learning_rate: float,
        max_epochs: int,
        monitor: str = "val_loss",
        decay: float = 0.1,
        max_decays: int = 3,
        min_delta: float = 0.0,
        min_learning_rate: float = 0.0,
        patience: int | None = None,
    ):
        super().__init__()
        self.monitor = monitor
        self.schedule = DecaySchedule(
            learning_rate=learning_rate,
            max_epochs=max_epochs,
            decay=decay,
            max_decays=max_decays,
            min_delta=min_delta,
            min_learning_rate=min_learning_rate,
            patience=patience,
        )
        self.steps: list[Step] = []
        self._best_weights = None

    @property
    def best_epoch(self) -> int | None:
        return self.schedule.best_epoch

    @property
    def decay_epochs(self) -> list[int]:
        return list(self.schedule.decay_epochs)

    @property
    def stopped_early(self) -> bool:
        return self.schedule.stopped_early

    def on_train_begin(self, logs=None):
        self.model.optimizer.learning_rate = self.schedule.learning_rate

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if self.monitor not in logs:
            raise KeyError(
                f"{self.monitor!r} is not in the epoch logs ({', '.join(logs)}): "
                "fit needs validation data for the method's schedule"
            )
        logs["lr"] = self.schedule.learning_rate
        decision = self.schedule.step(logs[self.monitor])
        self.steps.append(decision)
        if decision.is_best:
            self._best_weights = self.model.get_weights()
        if decision.action is Action.DECAY:
            self.model.optimizer.learning_rate = decision.learning_rate
        elif decision.action is Action.STOP:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self._best_weights is not None:
            self.model.set_weights(self._best_weights)
