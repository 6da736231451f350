"""Subgroup floors hold on every query, not only on average."""

import random

from policies import FixedUncertainty, ItemView, SubgroupQuotas


def test_quota_floor_holds_on_every_query_once_reached():
    """With a 25% floor for a 10% subgroup, its share of recent queries never ends below the
    floor after the first minority query, whatever the inner rule asks."""
    rng = random.Random(3)
    quotas = SubgroupQuotas(FixedUncertainty(1.0), "seg", min_share={"min": 0.25}, warmup=0)
    seen_min = False
    for i in range(5000):
        group = "min" if rng.random() < 0.1 else "maj"
        p = rng.random()
        item = ItemView(str(i), {"a": p, "b": 1 - p}, group={"seg": group})
        d = quotas.decide(item, allowed=rng.random() < 0.5)
        if d.query:
            quotas.commit(d, item)
            seen_min = seen_min or group == "min"
            if seen_min:
                assert quotas.share("min") >= 0.25 - 1e-9
