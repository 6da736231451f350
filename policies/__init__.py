"""Pure acquisition logic: uncertainty scores, query strategies and budget managers (no I/O)."""

from policies.audit_slice import RandomAudit
from policies.batch import BatchStrategy, ItemColumns, Row, Rows, as_decision, as_row
from policies.budget import (
    AbsoluteBudget,
    BudgetManager,
    BudgetSnapshot,
    CombinedBudget,
    FractionBudget,
    UtilityBudget,
    set_share,
)
from policies.committee import consensus_entropy, max_kl, vote_entropy
from policies.cost_sensitive import CostSensitive
from policies.decision import Decision, Reason
from policies.diversity import DiversityFilter
from policies.entropy_sampling import EntropySampling, entropy_probability
from policies.exploration import RandomExploration
from policies.fixed_uncertainty import FixedUncertainty
from policies.hybrid import Hybrid
from policies.item import ItemView
from policies.policy import Policy, PolicyBatch
from policies.quantile_filter import BalancedIncrementalQuantileFilter
from policies.query_by_committee import QueryByCommittee
from policies.queue_capacity import QueueCapacityGate
from policies.quotas import SubgroupQuotas
from policies.random_sampling import RandomSampling
from policies.randomness import item_uniform, item_uniforms
from policies.selective_sampling import SelectiveSampling
from policies.split import Split
from policies.strategy import CommittingStrategy, Strategy
from policies.uncertainty import entropy, least_confidence, margin, top_probability, top_two_gap
from policies.variable_uncertainty import RandomizedVariableUncertainty, VariableUncertainty

__all__ = [
    "AbsoluteBudget",
    "BalancedIncrementalQuantileFilter",
    "BatchStrategy",
    "BudgetManager",
    "BudgetSnapshot",
    "CombinedBudget",
    "CommittingStrategy",
    "CostSensitive",
    "Decision",
    "DiversityFilter",
    "EntropySampling",
    "FixedUncertainty",
    "FractionBudget",
    "Hybrid",
    "ItemColumns",
    "ItemView",
    "Policy",
    "PolicyBatch",
    "QueryByCommittee",
    "QueueCapacityGate",
    "RandomAudit",
    "RandomExploration",
    "RandomSampling",
    "RandomizedVariableUncertainty",
    "Reason",
    "Row",
    "Rows",
    "SelectiveSampling",
    "Split",
    "Strategy",
    "SubgroupQuotas",
    "UtilityBudget",
    "VariableUncertainty",
    "as_decision",
    "as_row",
    "consensus_entropy",
    "entropy",
    "entropy_probability",
    "item_uniform",
    "item_uniforms",
    "least_confidence",
    "margin",
    "max_kl",
    "set_share",
    "top_probability",
    "top_two_gap",
    "vote_entropy",
]
