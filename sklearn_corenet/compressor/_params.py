"""The documentation of :class:`CoreNetCompressor`'s hyperparameters, written once.

``CoreNetClassifier`` and ``CoreNetRegressor`` take every compressor
hyperparameter (their signature is the compressor's, with ``estimator`` in
front), so they document them in the compressor's words:
:func:`fill_docstring` puts :data:`COMPRESSOR_PARAMETERS_DOC` where a class
docstring has the line ``{compressor_parameters}``. The list of
reweighting rules comes from their registry (:data:`REWEIGHT_RULES`).
"""

import textwrap

from ..algorithm._reweight import reweight_doc

#: The "Parameters" entries of every :class:`CoreNetCompressor`
#: hyperparameter, in signature order, unindented.
COMPRESSOR_PARAMETERS_DOC = """\
epsilon : float, default=0.1
    Relative error ε, in (0, 1): the error the certificate must bound
    (``keep_ratio="certified"``, the default), or the ε of the paper's
    guarantee that drives the sample sizes (``keep_ratio="theory"``).
delta : float, default=0.1
    Failure probability δ, in (0, 1): the certified error holds for a new
    point with probability at least 1 − δ (or the paper's guarantee does).
keep_ratio : float, "certified", "theory" or None, default=None
    What decides the size of the compressed network.
    None or "certified" (the default; beyond the paper): the sparsest
    budget whose certificate holds on held-out calibration rows: error ≤
    ``epsilon`` with probability ≥ 1 − ``delta`` at ``confidence``, or a
    score drop of at most ``score_tolerance``; ``certificate_`` says what
    was certified. It needs enough calibration rows to hold some out (at
    least ``log(1 - confidence) / log(1 - delta)`` held-out rows, 29 at
    the defaults).
    A float in (0, 1]: the budget, the fraction of the original parameters
    (weights and biases) that stay non-zero; one allocation constant is
    solved for so that exactly this many parameters are kept, and
    ``epsilon_`` reports the ε those sample sizes correspond to.
    "theory": the paper's sample sizes from ``epsilon`` and ``delta``
    (Theorem 4). Its constants are conservative: it usually keeps most of
    the network, and warns when it keeps 75% or more.
confidence : float, default=0.95
    ``keep_ratio="certified"`` and ``certify``: confidence level of the
    certificate's bounds, in (0, 1).
error : {"l1", "entrywise"}, default="l1"
    ``keep_ratio="certified"`` and ``certify``: the error of a point.
    "l1": ‖f̂(x) − f(x)‖₁ / ‖f(x)‖₁ (the paper's experiments);
    "entrywise": the largest relative error of an output entry (the event
    of Theorem 4), entries below ``output_floor`` times the point's
    largest output compared to that floor.
output_floor : float, default=0.01
    Relative floor of the "entrywise" error, in [0, 1]; 0 is Theorem 4's
    event exactly.
score_tolerance : float, default=None
    ``keep_ratio="certified"``: target a score drop (accuracy for
    classifiers, R² for regressors, measured on the held-out rows) of at
    most this much instead of (ε, δ); ``fit`` then needs ``y``.
agreement : float, default=None
    ``keep_ratio="certified"``, classifiers: target, instead of (ε, δ), a
    lower confidence bound (at ``confidence``) of at least this much on the
    share of new points where the compressed model predicts the original's
    label (e.g. 0.99); needs no ``y``. ``certificate_.label_agreement_lower``
    is then what was certified (``certificate_.holds`` is about (ε, δ)).
error_on : {"outputs", "probabilities"}, default="outputs"
    What the error of a point compares (certificate, ``epsilon`` and
    ``certify``). "outputs": the last layer's values (logits for
    classifiers), as the paper. "probabilities" (classifiers): the
    predicted probabilities, ``predict_proba``; with ``error="l1"`` their
    ℓ1 distance, between 0 and 2, a figure read directly (ε = 0.1: the
    probabilities move by at most 0.05 of mass). The certificate reports
    the smallest ε certified on both.
fine_tune : None, bool, int or dict, default=None
    Fidelity fine-tuning (beyond the paper): train the kept weights,
    sparsity fixed, toward the original network's outputs on the
    calibration rows, mixed pairs of them (mixup) and ``X_unlabeled`` (no
    labels needed): toward its logits (squared error), or toward its
    probabilities (cross-entropy, Hinton et al. 2015) for
    ``score_tolerance``. With ``keep_ratio="certified"`` the search finds
    the budget that certifies without fine-tuning, then fine-tunes the
    budgets it tries below it on the compression rows before it certifies
    them on the held-out rows, which no fitting sees: the certificate
    stays valid and the budget found is smaller. With a float or "theory" ``keep_ratio``,
    the compressed network is fine-tuned once and ``transform`` returns
    it. None or False: off; True: 30 epochs of Adam at step size 1e-3
    (early stopping after 5 without progress) on up to 5,000 rows; an
    int: that many epochs; a dict: the
    fields of :class:`~sklearn_corenet.fine_tuning.FineTuneSettings`
    (``epochs``, ``learning_rate``, ``batch_size``, ...) and
    ``n_synthetic``, the mixed rows added (an int, or "auto": up to 5,000
    rows in all).
validation_fraction : float, default=0.3
    ``keep_ratio="certified"``: share of the distinct calibration rows
    held out to certify, in (0, 1); they are never used to compress.
search_step : float, default=0.1
    ``keep_ratio="certified"``: relative step of the grid of budgets
    searched (each is ``1 + search_step`` times the one below); the
    budget found is the smallest of the grid that meets the target when
    meeting it is monotone in the budget.
method : str or method object, default="auto"
    The paper's "corenet", "corenet+" (also removes neurons that never
    fire on the calibration points) and "corenet++" (also keeps the best
    of ``n_trials`` candidates per neuron); the paper's baselines
    "uniform", "l1", "l2", "l1+l2" and "magnitude"; and, beyond the paper,
    "wanda" (keep the edges with the largest weight × input RMS) and the
    structured methods, which remove whole hidden neurons so that the
    layers get narrower and stay dense (the fastest models): "neurons"
    (ranked by empirical sensitivity, as Provable Filter Pruning),
    "neurons-activation", "neuron-norm" (ranked by weight norm, as
    Torch-Pruning), "neurons-thinet" (neurons chosen greedily so that the
    next layer's input is best reconstructed, ThiNet) and "neurons+wanda"
    (structured, then sparse); "measured" (the best of four edge-selection
    rules on held-out calibration rows) and "wanda-search" (each layer's
    share of the budget searched by measured error, slower). "auto" is the
    recommended choice: "measured" with ``reweight="lstsq"`` when a budget
    is given or certified (the most accurate in our benchmarks at its
    cost), "corenet++" in theory mode (the method the guarantee is about);
    for speed, take "neurons-thinet". All but the CoreNet methods need
    ``keep_ratio``. A
    :class:`SamplingMethod` or :class:`SelectionMethod` instance is used
    as it is.
@reweight@
ridge : float, default=1e-3
    Ridge strength of the "lstsq" re-fit, relative to the mean squared
    input of a neuron's kept edges; it pulls the weights towards their
    starting values and keeps every fit finite.
n_trials : int, default=5
    Candidates per neuron for "corenet++" (τ of the paper's amplification).
calibration_size : int or "auto", default="auto"
    ``|S|``, the points used for sensitivities. "auto" uses
    ⌈log(8ηη*/δ) · log(ηη*)⌉, capped so that "corenet++" keeps a fifth
    of the data (at least one point) held out for amplification.
allocation : {"sensitivity", "theory"}, default="sensitivity"
    How budget mode shares draws across layers. "sensitivity": every row
    gets ``m_i = c · S_i`` (the theory's proportions within a layer, one
    constant across layers). "theory": the layer factor of Alg. 1 as
    well, ``m_i ∝ S_i (Δ^{ℓ→})²``, which gives the first layer nearly
    the whole budget.
K : float, default=None
    The constant of Assumption 1; log(ηη*) when None.
delta_cap : float, default=1e3
    Cap on each Δ_i(x) before averaging (Δ_i(x) explodes where a neuron's
    pre-activation is close to zero).
memory : str or object with the joblib.Memory interface, default=None
    Caches the calibration statistics and the sampling plans built from
    them, which depend on the model, the calibration points and
    ``random_state`` but not on ε or the budget: a grid search over
    ``epsilon`` or ``keep_ratio`` computes them once per fold.
n_jobs : int, default=None
    Threads for the sensitivity computation (torch's threads with
    ``device``); None uses every core, as BLAS does, also inside a
    parallel search (then set 1); 1 uses no extra thread.
device : str or torch.device, default=None
    Compute the sensitivities with torch on this device ("cpu", "cuda",
    ...) instead of numpy; requires the ``torch`` extra. Only methods
    that use sensitivities (the CoreNet family) compute any.
random_state : int, RandomState instance or None, default=None
    Controls the choice of S and T in ``fit`` and the draws of
    ``transform``: with an int, every ``transform`` gives the same model.
verbose : int, default=0
    Show progress bars when > 0.
"""
COMPRESSOR_PARAMETERS_DOC = COMPRESSOR_PARAMETERS_DOC.replace("@reweight@", reweight_doc())


def fill_docstring(**sections):
    """Class decorator: replace the docstring's ``{name}`` lines by ``sections``.

    A line holding nothing but ``{name}`` becomes ``sections[name]``, every
    line of it indented as the placeholder was: a section is written once,
    unindented, and reads the same wherever it goes.
    """

    def decorate(cls):
        if cls.__doc__ is None:  # python -OO
            return cls
        lines = []
        for line in cls.__doc__.splitlines(keepends=True):
            placeholder = line.strip()
            name = placeholder[1:-1]
            if placeholder == f"{{{name}}}" and name in sections:
                indent = line[: len(line) - len(line.lstrip())]
                line = textwrap.indent(sections[name].rstrip("\n"), indent) + "\n"
            lines.append(line)
        cls.__doc__ = "".join(lines)
        return cls

    return decorate


#: The fitted attributes of :class:`CoreNetCompressor`.
COMPRESSOR_ATTRIBUTES_DOC = """\
sensitivities_ : list of ndarray of shape (n_in, n_out)
    Empirical sensitivity of every weight.
bias_sensitivities_ : list of ndarray of shape (n_out,)
    Empirical sensitivity of every bias.
sample_sizes_ : list of ndarray of int
    Draws per neuron and sign, shape (2, n_out) (positive row first);
    shape (1,) for the whole-matrix baselines. In budget mode these are
    the sizes that meet the budget in expectation; ``transform`` fixes
    the allocation constant that meets it exactly.
epsilon_ : float
    The ε used (theory mode) or the ε the budget's sample sizes amount to
    (budget mode; NaN for methods without a guarantee).
layer_epsilons_ : ndarray of shape (n_layers,)
    ε_ℓ per layer.
delta_hat_ : ndarray of shape (n_layers,)
    Δ^ℓ per layer (Alg. 1, line 6).
calibration_size_ : int
    ``|S|``.
amplification_size_ : int
    ``|T|`` (0 unless the method amplifies).
dead_neurons_ : list of ndarray of int
    Per hidden layer, the neurons that are zero on every point of S.
n_params_ : int
    Parameter count of the original model.
budget_ : int or None
    Number of parameters to keep (budget mode).
theoretical_nnz_ : int
    Theory mode: the bound Σ_i min(m_i, edges of row i) on kept
    parameters that the guarantee's sample sizes give.
certificate_ : Certificate or None
    ``keep_ratio="certified"``: the certificate of the compressed network
    on the held-out calibration rows (None in the other modes).
search_results_ : dict of ndarray or None
    ``keep_ratio="certified"``: every budget tried, in order, with keys
    ``keep_ratio``, ``budget``, ``nnz``, ``meets_target``,
    ``epsilon_certified``, ``coverage``, ``coverage_lower``,
    ``label_agreement_lower`` (NaN for regressors),
    ``score_drop`` (NaN without targets), ``output_epsilon_certified``
    and ``probability_epsilon_certified`` (the smallest ε certified on
    the outputs and, NaN for regressors, on the probabilities),
    ``fine_tuned`` (whether the budget was fine-tuned before it was
    certified), ``fine_tune_epochs`` (the epoch fine-tuning kept, 0
    without it), ``seconds`` and ``fine_tune_seconds`` (the part of it
    fine-tuning took) (None in the other modes). With ``fine_tune``, the
    search first runs without fine-tuning, which costs less, then
    fine-tunes only budgets below the one it found.
fine_tune_history_ : FineTuneHistory or None
    With ``fine_tune``: the fine-tuning run of the network ``transform``
    returns (None without ``fine_tune``, and when the certified search
    found no fine-tuned budget below the one that certifies without it).
validation_size_ : int
    Rows held out to certify, of ``X`` and of ``X_unlabeled`` (0 unless
    ``keep_ratio="certified"``).
method_ : Method
    The compression method object ("auto" resolved).
reweight_ : str
    The reweighting rule used ("auto" resolved).
"""


#: Docstring sections the two meta-estimators share (see fill_docstring).
_SHARED_DOC = {
    "compressor_parameters": COMPRESSOR_PARAMETERS_DOC,
    "training": """\
An unfitted estimator is cloned and trained by ``fit`` (once per data
set when ``memory`` is set: see Notes); a fitted or frozen one is
compressed as it is and never changed.
""",
    "fitted_attributes": """\
estimator_ : estimator
    The trained network that was compressed (the wrapped estimator when
    ``estimator`` is a ``FrozenEstimator``).
compressor_ : CoreNetCompressor
    The fitted compressor, with the sensitivities and sample sizes. A
    saved estimator (pickle, joblib, skops) keeps its small figures only:
    no calibration data, no per-edge sensitivities; its ``transform``
    needs a new ``fit``.
""",
    "notes": """\
``fit(X, y, sample_weight=...)`` passes the weights to the network's own
``fit`` (scikit-learn's metadata routing, when enabled, routes any
metadata the network requests) and to the compression, where they act as
repetitions of the calibration rows.
A regressor given to the classifier, or a classifier to the regressor, is
a TypeError at ``fit``.

With ``memory`` set, the trained network is cached too, keyed on the
estimator's parameters and the training data: a grid search over
``keep_ratio`` or ``epsilon`` trains one network per fold (and one for
the refit), not one per candidate. With ``random_state=None`` in the
network, the candidates of a fold then share one random training instead
of drawing one each.

A saved fitted estimator holds nothing of the calibration data: it is
about the size of ``estimator_`` plus ``compressed_``.
""",
    "feature_attributes": """\
n_features_in_ : int
    Number of features seen during ``fit``.
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Names of the features seen during ``fit``, when ``X`` has string
    column names.
""",
    "references": """\
C. Baykal, L. Liebenwein, I. Gilitschenski, D. Feldman, D. Rus.
"Data-dependent coresets for compressing neural networks with
applications to generalization bounds", ICLR 2019.
""",
}
