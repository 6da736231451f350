"""Per-item randomness: a pure function of (key, version, seed), uniform on [0, 1)."""

import math

from hypothesis import given
from hypothesis import strategies as st

from policies import item_uniform

# Upper 0.1% point of the chi-square distribution with 19 degrees of freedom (statistical table).
_CHI2_19_999 = 43.82


@given(st.text(max_size=40), st.text(max_size=10), st.integers(-(2**63), 2**63))
def test_draw_is_deterministic_and_in_unit_interval(key, version, seed):
    """The same (key, version, seed) always gives the same draw, inside [0, 1)."""
    u = item_uniform(key, version, seed)
    assert 0.0 <= u < 1.0
    assert item_uniform(key, version, seed) == u


def test_draws_are_uniform_by_chi_square():
    """20,000 keys spread over 20 equal buckets pass a chi-square test at the 0.1% level."""
    n, buckets = 20_000, 20
    counts = [0] * buckets
    for i in range(n):
        counts[int(item_uniform(f"item-{i}", "1", 0) * buckets)] += 1
    expected = n / buckets
    chi2 = sum((c - expected) ** 2 / expected for c in counts)
    assert chi2 < _CHI2_19_999, counts


def test_draws_are_uniform_by_kolmogorov_smirnov():
    """The empirical CDF of 5,000 draws stays within the 1% Kolmogorov-Smirnov band."""
    n = 5000
    draws = sorted(item_uniform(str(i), "v", 42) for i in range(n))
    d = max(max((i + 1) / n - u, u - i / n) for i, u in enumerate(draws))
    assert d < 1.63 / math.sqrt(n)


def test_seed_and_version_change_the_draw():
    """Different seeds or versions decorrelate: draws for the same keys differ almost always."""
    keys = [f"k{i}" for i in range(200)]
    base = [item_uniform(k, "1", 0) for k in keys]
    other_seed = [item_uniform(k, "1", 1) for k in keys]
    other_version = [item_uniform(k, "2", 0) for k in keys]
    assert sum(a == b for a, b in zip(base, other_seed, strict=True)) == 0
    assert sum(a == b for a, b in zip(base, other_version, strict=True)) == 0
