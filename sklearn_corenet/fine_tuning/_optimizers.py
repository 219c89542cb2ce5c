"""Adam, the optimizer the paper retrains compressed networks with.

The numpy backend of the fine-tuning step updates the kept weights with
:class:`Adam`; the torch backend uses ``torch.optim.Adam`` with the same
settings, and the two take the same steps up to rounding.
"""

import numpy as np

#: Adam's β1, β2 and ε (Kingma & Ba 2015, the values the paper uses).
ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8


class Adam:
    """Adam (Kingma & Ba 2015, Alg. 1) over a list of arrays, updated in place.

    The bias-corrected step is arranged as in ``torch.optim.Adam`` so that
    both backends take the same steps.

    Parameters
    ----------
    parameters : list of ndarray
        The arrays to train. They are updated in place, so anything sharing
        their memory (e.g. the ``data`` of a sparse matrix) sees every step.
    learning_rate : float
        Step size α.

    Attributes
    ----------
    first_moments : list of ndarray
        Running mean of the gradients, one array per parameter.
    second_moments : list of ndarray
        Running mean of the squared gradients, one array per parameter.
    n_steps : int
        Number of steps taken.

    References
    ----------
    D. P. Kingma, J. Ba. "Adam: A method for stochastic optimization",
    ICLR 2015.

    Examples
    --------
    >>> import numpy as np
    >>> weights = np.array([1.0, -1.0])
    >>> optimizer = Adam([weights], learning_rate=0.1)
    >>> optimizer.step([np.array([2.0, -0.5])])
    >>> weights  # the first step moves every weight by about the step size
    array([ 0.9, -0.9])
    """

    def __init__(self, parameters, learning_rate):
        self.parameters = parameters
        self.learning_rate = learning_rate
        self.first_moments = [np.zeros_like(p) for p in parameters]
        self.second_moments = [np.zeros_like(p) for p in parameters]
        self.n_steps = 0

    def step(self, gradients):
        """Update every parameter in place from its gradient.

        Parameters
        ----------
        gradients : list of ndarray
            Gradient of the loss with respect to each parameter, in the order
            of ``parameters``.
        """
        beta1, beta2 = ADAM_BETAS
        self.n_steps += 1
        step_size = self.learning_rate / (1 - beta1**self.n_steps)
        correction2 = np.sqrt(1 - beta2**self.n_steps)
        for parameter, gradient, m, v in zip(
            self.parameters, gradients, self.first_moments, self.second_moments, strict=True
        ):
            m *= beta1
            m += (1 - beta1) * gradient
            v *= beta2
            v += (1 - beta2) * gradient**2
            parameter -= step_size * m / (np.sqrt(v) / correction2 + ADAM_EPSILON)
