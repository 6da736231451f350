"""The online learner: the River model that scores every item and learns from expert labels.

Importing this package defers ``scipy.special``: River's ``optim.losses`` imports it for one
loss (the softmax cross-entropy of multiclass models), and executing it, with the array-API
layer scipy builds around numpy, costs 0.15-0.3 s of every start-up. It is registered as a
lazy module (:class:`importlib.util.LazyLoader`, the standard library's lazy import), executed
on the first attribute read, so only a model that uses it pays for it.
"""

import importlib.util
import sys

__all__: list[str] = []


def _defer(name: str) -> None:
    """Register module ``name`` to be executed on first use (nothing if already imported)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)


_defer("scipy.special")
