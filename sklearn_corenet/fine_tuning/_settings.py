"""The settings of a fine-tuning run, written, documented and validated once.

:class:`FineTuneSettings` holds what ``fine_tune`` takes as keywords (the
number of epochs, Adam's step size, the mini-batch size, early stopping, ...);
the estimator's ``fine_tune``, :func:`fine_tune_estimator` and
:func:`fine_tune_network` all read one such object.
"""

from dataclasses import dataclass, fields
from numbers import Integral, Real
from typing import ClassVar

from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)

# Defaults, measured on small tabular data (hundreds to a few thousand rows)
# with ``python -m benchmarks.fine_tune_start --sweep`` (the table in
# docs/choosing_a_method.md, "Fine-tuning"); the step size shrinks for large
# data (``resolve_learning_rate``, measured on MNIST in the same section).
EPOCHS = 100
LEARNING_RATE = "auto"
# learning_rate="auto": this step size up to STEPS_PER_EPOCH mini-batches per
# epoch, falling in proportion to the steps beyond, never below the floor
# (Adam's usual step size, scikit-learn's MLP default)
LEARNING_RATE_BOUNDS = (1e-3, 1e-2)
VALIDATION_FRACTION = 0.2
N_ITER_NO_CHANGE = 10
# batch_size="auto": about this many mini-batches per epoch, within the bounds
STEPS_PER_EPOCH = 50
BATCH_SIZE_BOUNDS = (16, 200)


@dataclass(frozen=True)
class FineTuneSettings:
    """How a fine-tuning run trains; every field is validated on creation.

    Parameters
    ----------
    epochs : int, default=100
        Maximum number of passes over the training rows.
    learning_rate : float or "auto", default="auto"
        Adam's step size α (β1 = 0.9, β2 = 0.999, ε = 1e-8). "auto": 1e-2
        up to 50 mini-batches per epoch, smaller in proportion beyond, down
        to 1e-3 (see :func:`resolve_learning_rate`).
    batch_size : int or "auto", default="auto"
        Rows per mini-batch (the last batch of an epoch may be smaller).
        "auto": a fiftieth of the training rows, between 16 and 200 (see
        :func:`resolve_batch_size`).
    validation_fraction : float, default=0.2
        Fraction of rows held out for early stopping and the choice of the
        weights kept.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows, score the weights on
        them before training and after every epoch, stop after
        ``n_iter_no_change`` epochs without progress, and keep the best
        epoch (the highest validation score, ties broken by the lower
        validation loss), epoch 0 (the weights as given) included. Without
        early stopping every row is trained on for ``epochs`` epochs and the
        last weights are kept.
    n_iter_no_change : int, default=10
        Epochs in which neither the validation score rose nor the lowest
        validation loss fell by more than ``tol`` before stopping (early
        stopping only).
    tol : float, default=1e-4
        Change of the validation score or loss that counts as progress
        (early stopping only).
    alpha : float, default=0.0
        L2 penalty ``½ alpha ‖W‖² / batch size`` on the kept weights, as
        scikit-learn's MLP.
    backend : {"auto", "numpy", "torch"}, default="auto"
        "numpy" computes the gradients of the kept weights with numpy and
        scipy.sparse; "torch" with torch autograd on dense weights assembled
        from the kept values. Both give the same steps up to rounding.
        "auto" chooses torch when it is importable and the layers have at
        least ten million weights before compression (below that, numpy was
        measured faster).
    random_state : int, RandomState instance or None, default=None
        Controls the validation split and the order of the mini-batches,
        drawn from one generator whatever the backend: with an int, both
        backends see the same batches and take the same steps.
    verbose : int, default=0
        Show a progress bar over the epochs with the training and validation
        losses when > 0.

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        When a field is out of its range (a ValueError).
    TypeError
        For a keyword that is not a setting.

    Examples
    --------
    >>> from sklearn_corenet.fine_tuning import FineTuneSettings
    >>> FineTuneSettings(epochs=5).epochs
    5
    """

    epochs: int = EPOCHS
    learning_rate: object = LEARNING_RATE
    batch_size: object = "auto"
    validation_fraction: float = VALIDATION_FRACTION
    early_stopping: bool = True
    n_iter_no_change: int = N_ITER_NO_CHANGE
    tol: float = 1e-4
    alpha: float = 0.0
    backend: str = "auto"
    random_state: object = None
    verbose: int = 0

    _parameter_constraints: ClassVar[dict] = {
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "early_stopping": ["boolean"],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "backend": [StrOptions({"auto", "numpy", "torch"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __post_init__(self):
        validate_parameter_constraints(
            self._parameter_constraints,
            {field.name: getattr(self, field.name) for field in fields(self)},
            caller_name="fine_tune",
        )
