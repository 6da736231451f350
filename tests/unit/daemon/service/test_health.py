"""Health: liveness from the poll loop's heartbeat, readiness from restore and assignment."""

import time

from daemon.service.health import Health


def test_health_readiness_needs_restore_assignment_and_liveness():
    """Ready only when restored, assigned, live and not stopping."""
    health = Health(heartbeat_timeout=60.0)
    assert health.live
    assert not health.ready
    health.restored = health.assigned = True
    assert health.ready
    health.heartbeat_timeout = 0.0
    time.sleep(0.001)
    assert not health.live
    assert not health.ready
    health.beat()
    health.heartbeat_timeout = 60.0
    health.stopping = True
    assert not health.ready
