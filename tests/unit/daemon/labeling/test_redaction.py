"""Redaction: allow-list, drop / mask / salted hash, for features and group attributes."""

from __future__ import annotations

from daemon.config import QueueSettings
from daemon.labeling.redaction import MASK, Redactor


def test_allow_list_drops_every_other_feature_and_reports_it():
    """Only allow-listed features leave; the dropped ones are named in ``applied``."""
    r = Redactor(QueueSettings(name="q", fields=["a"]))
    features, group, applied = r.apply({"a": 1, "b": 2, "c": 3}, {"region": "EU"})
    assert features == {"a": 1}
    assert group == {"region": "EU"}
    assert applied == {"b": "drop", "c": "drop"}


def test_mask_hash_and_drop_apply_to_features_and_group_attributes():
    """Each mode changes exactly its field; group attributes are addressed as group.<attr>."""
    queue = QueueSettings(
        name="q",
        redact={"email": "mask", "account": "hash", "note": "drop", "group.customer": "hash"},
    )
    features, group, applied = Redactor(queue, salt=b"pepper").apply(
        {"email": "x@y", "account": 42, "note": "n", "amount": 3.0},
        {"customer": "c-1", "region": "EU"},
    )
    assert features["email"] == MASK
    assert features["amount"] == 3.0
    assert "note" not in features
    assert isinstance(features["account"], str)
    assert features["account"] != "42"
    assert group["region"] == "EU"
    assert group["customer"] != "c-1"
    assert applied == {
        "email": "mask",
        "account": "hash",
        "note": "drop",
        "group.customer": "hash",
    }


def test_hashes_are_stable_per_salt_and_differ_between_salts():
    """The same value hashes the same under one salt, differently under another."""
    queue = QueueSettings(name="q", redact={"account": "hash"})
    one = Redactor(queue, salt=b"a").apply({"account": 7}, {})[0]["account"]
    again = Redactor(queue, salt=b"a").apply({"account": 7}, {})[0]["account"]
    other = Redactor(queue, salt=b"b").apply({"account": 7}, {})[0]["account"]
    assert one == again
    assert one != other


def test_nothing_configured_changes_nothing():
    """Without an allow-list or rules, features and group pass unchanged."""
    features, group, applied = Redactor(QueueSettings(name="q")).apply({"a": 1}, {"g": "x"})
    assert (features, group, applied) == ({"a": 1}, {"g": "x"}, {})
