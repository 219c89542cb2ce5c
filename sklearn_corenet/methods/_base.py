"""The two kinds of compression method: sampling and selection.

A method is an object. A :class:`SamplingMethod` draws edges at random
(Alg. 2 of Baykal et al. 2019): it describes each layer's sampling problems
as :class:`~._sampling.SamplingPlan` objects and inherits exact budgets,
theory sample sizes and amplification from :mod:`sklearn_corenet.algorithm._sparsify`. A
:class:`SelectionMethod` chooses what to keep deterministically.
"""

import numpy as np

from ..algorithm._reweight import rules_for


class Method:
    """Base class of compression methods.

    Subclass :class:`SamplingMethod` or :class:`SelectionMethod`, not this
    class. Attributes are class-level settings read by the compressor.

    Attributes
    ----------
    name : str
        The value of ``method`` that selects it once registered.
    in_paper : bool
        Whether the method is defined in Baykal et al. (2019).
    needs_statistics : bool
        Whether it uses the calibration statistics (sensitivities, Δ).
    prunes_dead_neurons : bool
        CoreNet+: remove hidden neurons that are zero on every point of S.
    amplifies : bool
        CoreNet++: keep the best of ``n_trials`` candidates per neuron.
    structured : bool
        Whether it removes whole hidden neurons (narrower dense layers).
    theory_mode : bool
        Whether it can run without ``keep_ratio``, from ``epsilon`` and
        ``delta``.
    default_reweight : str
        The method's own reweighting rule (``reweight="auto"``).
    reweights : tuple of str
        Reweighting rules the method accepts, its own first: by default
        every rule of the registry (``REWEIGHT_RULES``) that applies to the
        method's kind (sampling or selection).
    """

    name = None
    in_paper = True
    needs_statistics = False
    prunes_dead_neurons = False
    amplifies = False
    structured = False
    theory_mode = False
    default_reweight = "unbiased"

    @property
    def reweights(self):
        """Reweighting rules the method accepts, its own default first."""
        others = rules_for(sampling=isinstance(self, SamplingMethod))
        return (self.default_reweight, *(name for name in others if name != self.default_reweight))

    @property
    def samples(self):
        """Whether the method draws random samples (so ``random_state`` matters)."""
        return isinstance(self, SamplingMethod)

    def active_neurons(self, weights, statistics):
        """Per layer, the neurons the compressed network keeps.

        All of them, unless the method prunes neurons that never fire on the
        calibration points (CoreNet+, Alg. 1 of the paper keeps them).
        """
        active = [np.ones(W.shape[1], dtype=bool) for W in weights]
        if self.prunes_dead_neurons and statistics is not None:
            for layer, stats in enumerate(statistics[:-1]):
                active[layer] = stats.alive.copy()
        return active

    def neurons_kept(self, layers, problem):
        """Per layer, the neurons kept once ``layers`` are chosen.

        The neurons of ``problem.active``; structured methods also drop the
        neurons whose every incoming weight and bias they removed.
        """
        return problem.active

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"


class SamplingMethod(Method):
    """A method that samples each layer's edges with replacement (Alg. 2).

    Subclasses implement :meth:`plans`; drawing, reweighting by
    ``count / (m q)``, budgets and amplification are shared.
    """

    def plans(self, problem, layer_scale):
        """Sampling plans of every layer.

        Parameters
        ----------
        problem : CompressionProblem
            The network's augmented ``weights``, calibration ``statistics``
            (or None) and ``active`` neurons.
        layer_scale : ndarray of shape (n_layers,)
            Relative allocation of draws across layers.

        Returns
        -------
        list of SamplingPlan
        """
        raise NotImplementedError


class SelectionMethod(Method):
    """A method that chooses the edges to keep deterministically.

    Subclasses implement :meth:`select`.
    """

    default_reweight = "none"

    def select(self, problem, budget):
        """Sparsified weights of every layer.

        Parameters
        ----------
        problem : CompressionProblem
            The ``network``, its augmented ``weights``, the calibration
            points ``X``, ``statistics`` (or None) and ``active`` neurons.
        budget : int
            Number of parameters to keep.

        Returns
        -------
        list of ndarray of shape (n_in + 1, n_out)
            Kept entries at their values, the others zero.
        """
        raise NotImplementedError

    def choose(self, problem, budget, refit):
        """The selection method that compresses ``problem`` at ``budget``: this one.

        A method that chooses among others by measuring them (see
        :class:`~._measured.MeasuredChoice`) returns the one it chose;
        ``refit(network, layers, X, *, overwrite, sample_weight)`` is the
        compressor's reweighting rule.
        """
        return self
