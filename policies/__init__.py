"""Pure acquisition logic: uncertainty scores, query strategies and budget managers (no I/O)."""

from policies.budget import (
    AbsoluteBudget,
    BudgetManager,
    BudgetSnapshot,
    CombinedBudget,
    FractionBudget,
)
from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.policy import Policy
from policies.random_sampling import RandomSampling
from policies.randomness import item_uniform
from policies.strategy import Strategy
from policies.uncertainty import entropy, least_confidence, margin
from policies.variable_uncertainty import VariableUncertainty

__all__ = [
    "AbsoluteBudget",
    "BudgetManager",
    "BudgetSnapshot",
    "CombinedBudget",
    "Decision",
    "FractionBudget",
    "ItemView",
    "Policy",
    "RandomSampling",
    "Reason",
    "Strategy",
    "VariableUncertainty",
    "entropy",
    "item_uniform",
    "least_confidence",
    "margin",
]
