"""Binary logistic regression on River's optimisers, losses and weight vectors.

River's ``linear_model`` package imports its Bayesian linear regression, and with it
``river.proba`` and ``scipy.stats`` (about a second of start-up), whatever model is used.
:class:`LogisticModel` is the binary logistic regression the default learner needs, built from
the same parts River's ``LogisticRegression`` is built from (``river.optim`` optimisers, the
``Log`` loss, a ``VectorDict`` of weights, a constant intercept learning rate) and making the
same calls in the same order, so its weights and probabilities are River's to the last bit
(tests compare them over seeded streams for each optimiser). Penalties (``l1``, ``l2``) are not
offered: labelgate never configures them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from river import optim
from river.utils import VectorDict
from river.utils.math import clamp


class LogisticModel:
    """Online binary logistic regression with River's semantics (``predict_proba_one`` maps
    ``False``/``True`` to probabilities; ``learn_one`` takes a ``bool`` target).

    >>> from river import optim
    >>> model = LogisticModel(optim.SGD(0.1))
    >>> model.learn_one({"x": 1.0}, True)
    >>> model.predict_proba_one({"x": 1.0})[True] > 0.5
    True
    """

    def __init__(
        self,
        optimizer: Any = None,
        intercept_lr: float = 0.01,
        clip_gradient: float = 1e12,
    ) -> None:
        self.optimizer = optim.SGD(0.01) if optimizer is None else optimizer
        self.loss: Any = optim.losses.Log()
        self.intercept = 0.0
        self.intercept_lr: Any = optim.schedulers.Constant(intercept_lr)
        self.clip_gradient = clip_gradient
        self.initializer: Any = optim.initializers.Zeros()
        self._weights: Any = VectorDict(None)

    @classmethod
    def from_river(cls, model: Any) -> LogisticModel:
        """The same model as a River ``LogisticRegression`` without penalties (shares its
        optimiser state and weights)."""
        if getattr(model, "l1", 0.0) or getattr(model, "l2", 0.0):
            raise ValueError("a penalised logistic regression cannot be converted")
        out = cls.__new__(cls)
        out.optimizer = model.optimizer
        out.loss = model.loss
        out.intercept = model.intercept
        out.intercept_lr = model.intercept_lr
        out.clip_gradient = model.clip_gradient
        out.initializer = model.initializer
        out._weights = model._weights
        return out

    @property
    def weights(self) -> dict[Any, float]:
        """The current weights, as a plain dict."""
        result: dict[Any, float] = self._weights.to_dict()
        return result

    def predict_proba_one(self, x: Mapping[Any, Any]) -> dict[bool, float]:
        """``{False: 1 - p, True: p}`` for one item."""
        p: float = self.loss.mean_func(self._weights.dot(x) + self.intercept)
        return {False: 1.0 - p, True: p}

    def learn_one(self, x: Mapping[Any, Any], y: bool, w: float = 1.0) -> None:
        """One SGD-family step on one example, as River's ``GLM.learn_one`` takes it."""
        stored = self._weights
        # Weights seen through a view that creates missing ones (zeros) for this item's keys.
        self._weights = VectorDict(stored, self.initializer, x)
        try:
            optimizer = self.optimizer
            optimizer.look_ahead(w=self._weights)
            g = self.loss.gradient(y_true=y, y_pred=self._weights.dot(x) + self.intercept)
            g *= w
            g = float(clamp(g, -self.clip_gradient, self.clip_gradient))
            gradient: Any = VectorDict.from_scaled(dict(x) if type(x) is not dict else x, g)
            self.intercept -= self.intercept_lr.get(optimizer.n_iterations) * g
            optimizer.step(w=self._weights, g=gradient)
        finally:
            self._weights = stored
