"""The estimators users build: :class:`CoreNetCompressor` and the meta-estimators.

The compressor turns a trained network and calibration data into a
compressed estimator; :class:`CoreNetClassifier` and
:class:`CoreNetRegressor` train, compress and predict in one estimator for
``Pipeline`` and ``GridSearchCV``. Their hyperparameters are documented once
(``_params``).
"""

from ._compressor import CoreNetCompressor
from ._meta import CoreNetClassifier, CoreNetRegressor

__all__ = ["CoreNetClassifier", "CoreNetCompressor", "CoreNetRegressor"]
