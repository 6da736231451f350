"""Data minimisation before a request leaves for an annotation queue: allow-list and redaction."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from daemon.config import QueueSettings, RedactionMode

MASK = "***"


class Redactor:
    """Applies one queue's allow-list and redaction rules to features and group attributes.

    ``fields`` (when set) is an allow-list of feature names: everything else is dropped. ``redact``
    maps a feature name, or ``group.<attr>``, to drop / mask / hash. Hashes are salted so that
    a low-cardinality value cannot be recovered from a lookup table.

    >>> from daemon.config import QueueSettings
    >>> r = Redactor(QueueSettings(name="q", fields=["a", "b"], redact={"b": "mask"}), salt=b"s")
    >>> r.apply({"a": 1, "b": 2, "secret": 3}, {})
    ({'a': 1, 'b': '***'}, {}, {'b': 'mask', 'secret': 'drop'})
    """

    def __init__(self, queue: QueueSettings, salt: bytes = b"") -> None:
        self.queue = queue
        self.salt = salt
        self._allowed = frozenset(queue.fields) if queue.fields is not None else None
        self._features = {k: v for k, v in queue.redact.items() if not k.startswith("group.")}
        self._group = {k[6:]: v for k, v in queue.redact.items() if k.startswith("group.")}

    def _hash(self, value: Any) -> str:
        digest = hashlib.blake2b(repr(value).encode(), key=self.salt[:64], digest_size=10)
        return digest.hexdigest()

    def _one(self, value: Any, mode: RedactionMode) -> Any:
        return MASK if mode is RedactionMode.MASK else self._hash(value)

    def apply(
        self, features: Mapping[str, Any], group: Mapping[str, str]
    ) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
        """Return (features, group, applied); ``applied`` maps each changed field to its mode."""
        applied: dict[str, str] = {}
        out: dict[str, Any] = {}
        for name, value in features.items():
            if self._allowed is not None and name not in self._allowed:
                applied[name] = RedactionMode.DROP.value
                continue
            mode = self._features.get(name)
            if mode is RedactionMode.DROP:
                applied[name] = mode.value
            elif mode is not None:
                out[name] = self._one(value, mode)
                applied[name] = mode.value
            else:
                out[name] = value
        out_group: dict[str, str] = {}
        for attr, value in group.items():
            mode = self._group.get(attr)
            if mode is RedactionMode.DROP:
                applied[f"group.{attr}"] = mode.value
            elif mode is not None:
                out_group[attr] = str(self._one(value, mode))
                applied[f"group.{attr}"] = mode.value
            else:
                out_group[attr] = value
        return out, out_group, applied
