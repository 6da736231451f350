"""Test-wide settings: a hypothesis profile that cannot fail a run on a busy machine."""

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.kafka_fixture"]

# No deadline and no too-slow health check anywhere: a shared 2-core machine makes timing
# meaningless. In CI the examples are also derandomised, so a run is reproducible.
settings.register_profile(
    "dev", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile(
    "ci",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    print_blob=True,
)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))
