"""Model selection over budgets: the kept-fraction scorer and ``sparsest_within``."""

from ._scoring import kept_fraction_scorer, make_kept_fraction_scorer, sparsest_within

__all__ = ["kept_fraction_scorer", "make_kept_fraction_scorer", "sparsest_within"]
