"""A fitted ``Pipeline`` whose last step is a network: its steps apart.

Tabular networks usually sit behind a scaler or a ``ColumnTransformer``. The
compressor, ``certify`` and the evaluation helpers take such a Pipeline as
they take the bare network: the calibration rows go through the fitted
transformers (:func:`split_pipeline`), the network is read as usual, and the
compressed network takes the network's place in a copy of the Pipeline
(:func:`with_final_estimator`), which predicts, saves and exports like any
fitted Pipeline.
"""

import copy

from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ..core._network import NetworkModel
from ._registry import is_supported, unsupported_model_error


class PipelineParts:
    """A fitted Pipeline taken apart: the transformers and the network.

    Attributes
    ----------
    pipeline : Pipeline
        The Pipeline as given (never modified).
    transformers : list of (str, estimator)
        Every step before the network, nested Pipelines flattened, in order.
    network : estimator
        The last step (of the innermost Pipeline): the network to compress.
    """

    def __init__(self, pipeline, transformers, network):
        self.pipeline = pipeline
        self.transformers = transformers
        self.network = network

    def transform(self, X):
        """``X`` through the fitted transformers, as the Pipeline feeds its last step."""
        for _, transformer in self.transformers:
            if transformer is None or transformer == "passthrough":
                continue
            X = transformer.transform(X)
        return X


def split_pipeline(model, what="compress"):
    """``PipelineParts`` of a fitted Pipeline ending in a network; None for any other model.

    Parameters
    ----------
    model : object
        A model, possibly a fitted ``Pipeline`` (nested Pipelines allowed)
        whose last step is a network an adapter reads, or a compressed one,
        and whose other steps are fitted transformers.
    what : str, default="compress"
        The verb an error message uses ("compress", "certify", ...).

    Raises
    ------
    sklearn.exceptions.NotFittedError
        When a step of the Pipeline is not fitted.
    TypeError
        When its last step is not a network the library reads, or another
        step is not a transformer.
    """
    if not isinstance(model, Pipeline):
        return None
    transformers = []
    pipeline = model
    while True:
        steps = pipeline.steps
        for name, step in steps[:-1]:
            if step is None or step == "passthrough":
                continue
            if not hasattr(step, "transform"):
                raise TypeError(
                    f"cannot {what} a Pipeline whose step {name!r} "
                    f"({type(step).__name__}) is not a transformer: every step "
                    "before the network must transform the data"
                )
            try:
                check_is_fitted(step)
            except NotFittedError:
                raise NotFittedError(
                    f"cannot {what} a Pipeline whose step {name!r} ({type(step).__name__}) "
                    "is not fitted: fit the Pipeline first"
                ) from None
            transformers.append((name, step))
        last_name, last = steps[-1]
        if isinstance(last, Pipeline):
            pipeline = last
            continue
        break
    if not (is_supported(last) or isinstance(last, NetworkModel)):
        raise unsupported_model_error(
            last, f"cannot {what} a Pipeline whose last step {last_name!r} is an object"
        )
    return PipelineParts(model, transformers, last)


def final_network(model, what="compress"):
    """The network at the end of a fitted Pipeline, or ``model`` when it is none.

    The Pipeline is checked as :func:`split_pipeline` checks it.
    """
    parts = split_pipeline(model, what)
    return model if parts is None else parts.network


def with_final_estimator(pipeline, estimator):
    """A copy of ``pipeline`` ending in ``estimator`` instead of its network.

    The transformers are copied (deep), so that refitting the original
    Pipeline leaves the returned one as it is; nested Pipelines keep their
    nesting.
    """
    steps = [(name, copy.deepcopy(step)) for name, step in pipeline.steps[:-1]]
    last_name, last = pipeline.steps[-1]
    steps.append((last_name, with_final_estimator(last, estimator) if isinstance(last, Pipeline) else estimator))
    result = copy.copy(pipeline)
    result.steps = steps
    return result
