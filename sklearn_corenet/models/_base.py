"""Shared inference code of the compressed estimators: validation, the layer kernels, conversions and exports."""

import copy

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
)

from ..core._activations import apply_activation
from ..core._network import Network, NetworkModel, chunked, forward_pass
from ..core._version import RecordsVersion
from ..export._sklearn import sparse_to_sklearn
from ..fine_tuning._fine_tune import fine_tune_estimator
from ._kernels import LayerKernels
from ._loading import loaded_state
from ._predict import as_model_dtype, check_predict_input
from ._storage import pack_layers
from ._summary import CompressionSummary


class _BaseSparseMLP(RecordsVersion, NetworkModel, BaseEstimator):
    """Shared inference code of the compressed estimators.

    Instances are produced by :meth:`CoreNetCompressor.transform`; they take no
    hyperparameters. They are fitted models: ``fit`` leaves them unchanged
    and ``clone`` returns a copy (see :meth:`fit`).
    """

    def _check_fitted(self):
        if "coefs_" not in self.__dict__:
            raise NotFittedError(
                f"this {type(self).__name__} holds no network; compressed estimators "
                "are made by CoreNetCompressor.transform"
            )

    # -- a fitted scikit-learn estimator -------------------------------------

    def fit(self, X=None, y=None, **fit_params):
        """Leave the compressed model as it is: compression fitted it.

        A compressed model is a fitted model with no hyperparameters, like a
        model in :class:`~sklearn.frozen.FrozenEstimator`: ``fit`` learns
        nothing, so that it can be the last step of a ``Pipeline`` whose
        preprocessing is fitted, or be cross-validated, calibrated and voted
        with as it is. :func:`~sklearn.base.clone` returns a copy of it
        (not an empty estimator). To train its weights further, use
        :meth:`fine_tune`.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features), default=None
            Checked, when given, to have the features the model was
            compressed with (their number and names).
        y : object
            Ignored.
        **fit_params : dict
            Ignored (``sample_weight`` and other metadata included).

        Returns
        -------
        self : object
            The estimator, unchanged.

        Raises
        ------
        NotFittedError
            If the estimator holds no network (``SparseMLPClassifier()``).
        """
        self._check_fitted()
        if X is not None:
            _check_feature_names(self, X, reset=False)
            _check_n_features(self, X, reset=False)
        return self

    def __sklearn_is_fitted__(self):
        return "coefs_" in self.__dict__

    def __sklearn_clone__(self):
        # a fitted model with no hyperparameters: its clone is a copy, as the
        # clone of a FrozenEstimator is the frozen model (a copy here, so that
        # fine-tuning one does not change the other)
        if not self.__sklearn_is_fitted__():
            return type(self)()
        return copy.deepcopy(self)

    def __deepcopy__(self, memo):
        # all of the state (``selected_values_`` included, which saving
        # leaves out), without the derived kernels
        copied = type(self).__new__(type(self))
        memo[id(self)] = copied
        state = {k: v for k, v in self.__dict__.items() if k != "_kernel_cache"}
        copied.__dict__.update(copy.deepcopy(state, memo))
        return copied

    # -- saving --------------------------------------------------------------

    def __getstate__(self):
        """What pickle, joblib and skops save: the weights packed, nothing derived.

        ``coefs_`` and ``intercepts_`` are stored by
        :func:`~._storage.pack_layers` (values in the model's dtype, the
        pattern in the fewest bytes); ``selected_values_``, a second copy of
        every kept weight that only ``fine_tune(init="selected")`` reads,
        and the kernels' derived copies of the weights are left out.
        """
        # a copy: BaseEstimator returns the instance's own __dict__
        state = dict(super().__getstate__())
        state.pop("_kernel_cache", None)
        if "coefs_" in state:
            state["_packed_layers"] = pack_layers(
                state.pop("coefs_"), state.pop("intercepts_")
            )
        if "selected_values_" in state:
            state["selected_values_"] = None
        return state

    def __setstate__(self, state):
        # every stored structure is checked before anything is built: a
        # corrupt or foreign file raises a ValueError here, not at predict
        super().__setstate__(loaded_state(state, self))

    def astype(self, dtype):
        """A copy whose weights and biases are stored in ``dtype``.

        ``astype(np.float32)`` halves what the values take in memory and on
        disk; predictions then differ from the float64 model's by float32
        round-off.

        Parameters
        ----------
        dtype : dtype
            A floating-point dtype.

        Returns
        -------
        estimator
            A new estimator of the same class, sharing no memory with this
            one.
        """
        self._check_fitted()
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise ValueError(f"dtype must be a floating-point dtype; got {dtype}")
        converted = copy.deepcopy(self)
        converted.coefs_ = [W.astype(dtype) for W in converted.coefs_]
        converted.intercepts_ = [b.astype(dtype) for b in converted.intercepts_]
        if converted.selected_values_ is not None:
            converted.selected_values_ = [
                (values.astype(dtype), biases.astype(dtype))
                for values, biases in converted.selected_values_
            ]
        if getattr(converted, "one_shot_estimator_", None) is not None:
            converted.one_shot_estimator_ = converted.one_shot_estimator_.astype(dtype)
        converted._clear_caches()
        return converted

    # -- structure -----------------------------------------------------------

    @property
    def nnz_(self):
        """Non-zero parameters: weights and biases of all layers."""
        self._check_fitted()
        return int(
            sum(W.count_nonzero() for W in self.coefs_)
            + sum(np.count_nonzero(b) for b in self.intercepts_)
        )

    @property
    def keep_ratio_(self):
        """Fraction of the original model's parameters that are non-zero."""
        return self.nnz_ / self.n_params_original_

    def to_network(self):
        """The compressed model as a dense :class:`Network`.

        Everything is copied (weights, head, feature names, ``extra``):
        changing the network in place leaves this model unchanged.
        """
        self._check_fitted()
        feature_names = getattr(self, "feature_names_in_", None)
        return Network(
            coefs=[W.toarray() for W in self.coefs_],
            intercepts=[np.array(b, copy=True) for b in self.intercepts_],
            activation=self.activation,
            out_activation=self.out_activation_,
            head=copy.deepcopy(self.head_),
            feature_names_in=None if feature_names is None else np.array(feature_names, copy=True),
            source=self.source_,
            extra=copy.deepcopy(self.source_info_),
        )

    # -- inference -----------------------------------------------------------

    def _kernels(self):
        """The products with ``coefs_`` (derived, rebuilt on demand, never pickled)."""
        kernels = self.__dict__.get("_kernel_cache")
        if kernels is None or kernels.coefs is not self.coefs_:
            kernels = self.__dict__["_kernel_cache"] = LayerKernels(self.coefs_)
        return kernels

    def _clear_caches(self):
        """Forget the derived copies of the weights (after they change)."""
        self.__dict__.pop("_kernel_cache", None)

    def _decision(self, X, dtype=None):
        """Last layer's values before the output activation, in row chunks.

        With ``dtype``, each chunk of ``X`` is converted to it first (see
        :func:`~._predict.as_model_dtype`): an input of another dtype is
        never converted whole.
        """
        widest = max([self.n_features_in_, *(W.shape[1] for W in self.coefs_)])
        return chunked(
            X,
            lambda rows: forward_pass(
                rows if dtype is None else as_model_dtype(rows, dtype),
                self.coefs_,
                self.intercepts_,
                self.activation,
                product=self._kernels(),
            ),
            self.n_outputs_,
            3 * widest * 8,
        )

    def _forward(self, X):
        self._check_fitted()
        X = check_predict_input(self, X)
        return apply_activation(self.out_activation_, self._decision(X, self.intercepts_[0].dtype))

    def summary(self):
        """Per-layer table of the compression (see ``CoreNetCompressor.summary``)."""
        return CompressionSummary.from_estimator(self)

    # -- training ------------------------------------------------------------

    def fine_tune(self, X, y=None, *, init="auto", keep_one_shot=True, teacher=None, **params):
        """Train the kept weights further, never ending worse on the validation split.

        No new non-zero appears: only the weights and biases that the
        compression kept are trained (Adam, as the paper's Appendix B.4).
        ``validation_fraction`` of the rows is held out; the model as it is
        is scored on it before training (epoch 0) and after every epoch,
        and the best epoch is kept, 0 included (the estimator's ``score``,
        accuracy or R², ties broken by the validation loss). Training that
        does not help, from a poor start or with too large a step, thus
        leaves the model as it was.

        The model is trained in place and returned, so that
        ``sparse.fine_tune(X, y)`` followed by ``sparse.score(...)`` scores
        the fine-tuned model. The one-shot model is not lost: the first call
        that changes the weights keeps the model as it was in
        ``one_shot_estimator_``. For a fine-tuned copy that leaves this
        model as it is, fine-tune a clone:
        ``clone(sparse).fine_tune(X, y, keep_one_shot=False)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like, default=None
            Targets, as the original model was trained on; None with
            ``teacher``.
        init : {"auto", "current", "selected"}, default="auto"
            Where training starts (epoch 0 is the model as it is whatever
            the start). "current": the model's weights as they are.
            "selected": the kept edges at their values before the
            least-squares re-fit (``reweight="lstsq"``), i.e. the original
            network's weights. "auto": "selected" when the model has them,
            else "current"; measured better on average over MNIST, digits
            and four tabular data sets at 2-10% kept (see the docs page
            "Choosing a method", section "Fine-tuning").
        keep_one_shot : bool, default=True
            Whether the first call that changes the weights keeps a copy of
            the model as it was in ``one_shot_estimator_`` (None when False).
        teacher : estimator, default=None
            Distillation instead of ``y``: the model learns the outputs of
            this network on ``X`` (class probabilities, or a regressor's
            predictions), so unlabelled rows train it too. Pass the network
            the model was compressed from; ``X`` is then what this model
            takes (for a compressed Pipeline, the rows its steps hand on).
        **params
            Training settings, sized by the data:
            ``epochs=100`` (at most), ``learning_rate="auto"`` (1e-2
            up to 50 mini-batches per epoch, smaller beyond, down to 1e-3),
            ``batch_size="auto"`` (a fiftieth of the training rows, 16 to
            200), ``validation_fraction=0.2``, ``early_stopping=True``,
            ``n_iter_no_change=10``, ``tol=1e-4``, ``alpha=0.0``,
            ``backend="auto"``, ``random_state=None``, ``verbose=0`` (see
            ``sklearn_corenet.fine_tuning._fine_tune.fine_tune_network``). With
            ``early_stopping=False`` nothing is held out, every epoch is run
            and the last one is kept.

        Returns
        -------
        self
            Trained in place, with ``fine_tune_history_`` (losses and scores
            per epoch, ``best_epoch``: 0 when the model was left as it was)
            and, once its weights changed, ``one_shot_estimator_``.

        Warns
        -----
        ConvergenceWarning
            When the weights stop being finite (training stops there).

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from sklearn.neural_network import MLPClassifier
        >>> from sklearn_corenet import CoreNetCompressor
        >>> X, y = load_digits(return_X_y=True)
        >>> mlp = MLPClassifier((32,), max_iter=200, random_state=0).fit(X / 16, y)
        >>> sparse = CoreNetCompressor(keep_ratio=0.1).fit_transform(mlp, X / 16)
        >>> history = sparse.fine_tune(X / 16, y, epochs=20, random_state=0).fine_tune_history_
        >>> history.best_validation_score >= history.initial_validation_score
        True
        """
        return fine_tune_estimator(
            self, X, y, init=init, keep_one_shot=keep_one_shot, teacher=teacher, **params
        )

    # -- export --------------------------------------------------------------

    def to_sklearn(self):
        """A plain fitted ``MLPClassifier`` or ``MLPRegressor`` with these weights.

        The compressed weights become the dense ``coefs_`` of a scikit-learn
        MLP whose hidden layers have the widths that compression left
        (``hidden_layer_sizes_``): it predicts what this model predicts (to
        float round-off), for binary, multiclass, multilabel and regression
        heads, and needs nothing but scikit-learn to load.

        Returns
        -------
        MLPClassifier or MLPRegressor
            A fitted model sharing no memory with this one; its training
            state is that of a fresh fit, so ``warm_start=True`` trains on
            from these weights (densely: the zeros become trainable).

        Raises
        ------
        ValueError
            If the prediction semantics have no scikit-learn MLP equivalent
            (a threshold other than 0.5, a log-softmax output).
        """
        self._check_fitted()
        return sparse_to_sklearn(self)

    def to_torch(self, *, sparse=False, dtype=None, include_output_activation=True):
        """An equivalent ``torch.nn.Module`` (requires the ``torch`` extra).

        Parameters
        ----------
        sparse : bool, default=False
            Store the weights in ``SparseLinear`` layers (CSR: only the kept
            weights and biases, so training keeps the sparsity pattern)
            instead of ``nn.Linear`` layers holding the zeros.
        dtype : torch.dtype or numpy dtype, default=None
            The module's parameter dtype, which its inputs must have; the
            weights' dtype when None (float64 for scikit-learn models:
            pass ``torch.float32`` to feed float32 tensors). Sparse layers
            compute in ``torch.float32`` or ``torch.float64`` only.
        include_output_activation : bool, default=True
            Append the output activation (softmax, sigmoid, ...) so that the
            module returns the model's outputs after it (see Returns);
            without it, the module returns the last layer's values (logits
            for classifiers).

        Returns
        -------
        torch.nn.Sequential
            A module mapping a tensor of shape (n_samples, n_features) to
            one of shape (n_samples, ``n_outputs_``), sharing no memory with
            this model. With the output activation it returns
            ``predict_proba`` for multiclass and multilabel classifiers,
            except that a binary classifier's module returns the positive
            class's probability only, shape (n_samples, 1): the second
            column of ``predict_proba``. A regressor's module returns
            ``predict``, shape (n_samples, 1) for a single output.

        Raises
        ------
        ValueError
            If ``sparse=True`` with a dtype other than ``torch.float32`` and
            ``torch.float64``: torch's CSR product computes in no other on
            the CPU (the dense export computes in any floating dtype).

        Notes
        -----
        Both exports can be traced with ``torch.jit.trace`` and scripted with
        ``torch.jit.script``. ``torch.export.export`` works on the dense
        export only: it cannot build the CSR tensors of ``sparse=True``.
        """
        from ..export._torch import network_to_torch

        self._check_fitted()
        return network_to_torch(
            self.coefs_,
            self.intercepts_,
            self.activation,
            self.out_activation_,
            sparse=sparse,
            dtype=dtype,
            include_output_activation=include_output_activation,
        )

    def to_skorch(self, net_class=None, **kwargs):
        """A skorch net initialised with the compressed module (``torch`` extra).

        Parameters
        ----------
        net_class : type, default=None
            The skorch net class to build. None: the class of the original
            net when it is one of skorch's own (``NeuralNetClassifier``,
            ``NeuralNetBinaryClassifier``, ``NeuralNetRegressor``,
            ``NeuralNet``), else the skorch class that fits the model's head.
            A subclass of the original is never imported from the name the
            model stores: pass it here.
        **kwargs : dict
            ``sparse`` and ``dtype`` (see ``network_to_skorch``), and the
            skorch net's constructor parameters.

        Returns
        -------
        skorch.NeuralNet
            An initialised net sharing no memory with this model: training
            it (``partial_fit``) leaves this model unchanged.
        """
        from ..export._torch import network_to_skorch

        self._check_fitted()
        return network_to_skorch(self, net_class=net_class, **kwargs)
