#!/usr/bin/env python3
"""Generate helm/labelgate/values.schema.json from the daemon's pydantic ``Settings`` model.

The chart's ``config:`` value is the daemon's configuration verbatim, so its schema is
``Settings.model_json_schema(by_alias=True)``; the chart's own keys (image, replicaCount,
alerts, ...) are described here. Helm validates values against the result on install, upgrade,
lint and template, so a config the daemon would reject fails before it reaches a cluster.

Usage::

    python scripts/gen_values_schema.py           # write the file
    python scripts/gen_values_schema.py --check   # exit 1 when the file is out of date

tests/helm/test_values_schema.py regenerates it in memory and compares.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "helm" / "labelgate" / "values.schema.json"


STRING = {"type": "string"}
BOOL = {"type": "boolean"}
OBJECT = {"type": "object"}
ARRAY = {"type": "array"}
DURATION = {"type": "string", "pattern": r"^([0-9]+(ms|s|m|h|d|w|y))+$"}
NUMBER = {"type": "number"}
SHARE = {"type": "number", "minimum": 0, "maximum": 1}
NON_NEGATIVE_INT = {"type": "integer", "minimum": 0}
POSITIVE_INT = {"type": "integer", "minimum": 1}
OPTIONAL_POSITIVE_INT = {"type": ["integer", "null"], "minimum": 1}
QUANTITY = {"type": ["string", "number"]}


def _obj(properties: dict[str, Any], *, strict: bool = True, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if strict:
        doc["additionalProperties"] = False
    return doc


def _alert(**thresholds: dict[str, Any]) -> dict[str, Any]:
    return _obj(
        {
            "enabled": BOOL,
            "for": DURATION,
            "severity": {"type": "string", "enum": ["critical", "warning", "info", "none"]},
            **thresholds,
        }
    )


def _probe() -> dict[str, Any]:
    return _obj(
        {
            "enabled": BOOL,
            "path": {"type": "string", "pattern": "^/"},
            "periodSeconds": POSITIVE_INT,
            "timeoutSeconds": POSITIVE_INT,
            "failureThreshold": POSITIVE_INT,
        }
    )


def _monitor() -> dict[str, Any]:
    return _obj(
        {
            "enabled": BOOL,
            "additionalLabels": OBJECT,
            "interval": DURATION,
            "scrapeTimeout": DURATION,
            "honorLabels": BOOL,
            "relabelings": ARRAY,
            "metricRelabelings": ARRAY,
        }
    )


def chart_properties() -> dict[str, Any]:
    """The chart's own values, everything but ``config``."""
    return {
        "kafkaSecret": _obj(
            {
                "name": STRING,
                "saslUsernameKey": STRING,
                "saslPasswordKey": STRING,
                "sslKeyPasswordKey": STRING,
                "extra": {
                    "type": "object",
                    "description": "Secret librdkafka properties: name -> key in the Secret.",
                    "propertyNames": {"pattern": "^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)*$"},
                    "additionalProperties": {"type": "string", "minLength": 1},
                },
            },
            description="Kafka credentials from an existing Secret; never inline them in config.",
        ),
        "redactionSaltSecret": _obj({"name": STRING, "key": STRING}),
        "bridge": _obj(
            {
                "enabled": BOOL,
                "queues": {"type": "array", "items": STRING},
                "tokenSecret": _obj({"name": STRING, "key": STRING}),
                "webhookSecret": _obj({"name": STRING, "key": STRING}),
                "env": ARRAY,
                "resources": OBJECT,
            },
            description="The Label Studio bridge, one Deployment per queue with label_studio.",
        ),
        "kafkaTls": _obj(
            {
                "secretName": STRING,
                "mountPath": {"type": "string", "pattern": "^/"},
                "caKey": STRING,
                "certKey": STRING,
                "keyKey": STRING,
            }
        ),
        "image": _obj(
            {
                "repository": {"type": "string", "minLength": 1},
                "tag": STRING,
                "digest": STRING,
                "pullPolicy": {"type": "string", "enum": ["Always", "IfNotPresent", "Never"]},
            }
        ),
        "imagePullSecrets": ARRAY,
        "nameOverride": STRING,
        "fullnameOverride": STRING,
        "workload": _obj({"kind": {"type": "string", "enum": ["Deployment", "StatefulSet"]}}),
        "replicaCount": NON_NEGATIVE_INT,
        "env": ARRAY,
        "envFrom": ARRAY,
        "extraArgs": {"type": "array", "items": STRING},
        "serviceAccount": _obj(
            {
                "create": BOOL,
                "name": STRING,
                "annotations": OBJECT,
                "automountServiceAccountToken": BOOL,
            }
        ),
        "podAnnotations": OBJECT,
        "podLabels": OBJECT,
        "priorityClassName": STRING,
        "podSecurityContext": OBJECT,
        "securityContext": OBJECT,
        "terminationGracePeriodSeconds": {"type": ["integer", "null"], "minimum": 0},
        "resources": OBJECT,
        "probes": _obj({"startup": _probe(), "liveness": _probe(), "readiness": _probe()}),
        "persistence": _obj(
            {
                "enabled": BOOL,
                "mountPath": {"type": "string", "pattern": "^/"},
                "storageClass": STRING,
                "accessModes": {"type": "array", "items": STRING, "minItems": 1},
                "size": QUANTITY,
                "existingClaim": STRING,
                "annotations": OBJECT,
                "emptyDir": _obj({"sizeLimit": QUANTITY}),
            }
        ),
        "tmp": _obj({"sizeLimit": QUANTITY}),
        "service": _obj(
            {
                "type": {"type": "string", "enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "annotations": OBJECT,
            }
        ),
        "serviceMonitor": _monitor(),
        "podMonitor": _monitor(),
        "prometheusRule": _obj(
            {
                "enabled": BOOL,
                "additionalLabels": OBJECT,
                "interval": {"anyOf": [DURATION, {"const": ""}]},
                "selector": STRING,
                "additionalAlertLabels": OBJECT,
                "runbookBaseUrl": STRING,
            }
        ),
        "alerts": _obj(
            {
                "budgetExhausted": _alert(),
                "budgetWillRunOut": _alert(burnWindow=DURATION),
                "queueSaturated": _alert(threshold=SHARE),
                "requestsOverdue": _alert(ttlFactor={"type": "number", "exclusiveMinimum": 0}),
                "subgroupUnderSampled": _alert(
                    threshold={"type": "number", "minimum": 0}, minPopulationShare=SHARE
                ),
                "labeledShiftHigh": _alert(
                    threshold={"type": "number", "minimum": 0},
                    excludeFeatures={"type": "array", "items": {"type": "string"}},
                ),
                "errorEstimatesDiverge": _alert(threshold=SHARE),
                "driftDetected": _alert(window=DURATION),
                "consumerLagHigh": _alert(threshold={"type": "number", "minimum": 0}),
                "commitsStalled": _alert(threshold={"type": "number", "exclusiveMinimum": 0}),
                "deadLetterRateHigh": _alert(threshold=SHARE, window=DURATION),
                "down": _alert(),
                "notReady": _alert(),
            }
        ),
        "podDisruptionBudget": _obj(
            {
                "enabled": BOOL,
                "maxUnavailable": {"type": ["integer", "string", "null"]},
                "minAvailable": {"type": ["integer", "string", "null"]},
            }
        ),
        "keda": _obj(
            {
                "enabled": BOOL,
                "partitions": OPTIONAL_POSITIVE_INT,
                "minReplicaCount": NON_NEGATIVE_INT,
                "maxReplicaCount": POSITIVE_INT,
                "pollingInterval": POSITIVE_INT,
                "cooldownPeriod": NON_NEGATIVE_INT,
                "lagThreshold": POSITIVE_INT,
                "activationLagThreshold": NON_NEGATIVE_INT,
                "authenticationRef": STRING,
                "extraTriggerMetadata": OBJECT,
            }
        ),
        "hpa": _obj(
            {
                "enabled": BOOL,
                "partitions": OPTIONAL_POSITIVE_INT,
                "minReplicas": POSITIVE_INT,
                "maxReplicas": POSITIVE_INT,
                "targetCPUUtilizationPercentage": {"type": "integer", "minimum": 1},
                "metrics": ARRAY,
            }
        ),
        "dashboard": _obj({"enabled": BOOL, "labels": OBJECT, "annotations": OBJECT}),
        "nodeSelector": OBJECT,
        "tolerations": ARRAY,
        "affinity": OBJECT,
        "topologySpreadConstraints": ARRAY,
        # Helm passes the parent chart's globals to every chart.
        "global": OBJECT,
    }


def config_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """The daemon's config schema and its definitions (hoisted to the document root)."""
    sys.path.insert(0, str(ROOT))
    from daemon.config import Settings  # noqa: PLC0415 - needs ROOT on sys.path first

    schema = copy.deepcopy(Settings.model_json_schema(by_alias=True))
    defs = schema.pop("$defs", {})
    schema["description"] = (
        "The daemon's configuration, verbatim (labelgate run --config). "
        + schema.get("description", "")
    ).strip()
    return schema, defs


def build() -> dict[str, Any]:
    """The whole values schema."""
    config, defs = config_schema()
    properties = {"config": config, **chart_properties()}
    doc: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "labelgate chart values",
        "description": (
            "Generated by scripts/gen_values_schema.py from daemon.config.Settings; do not edit."
        ),
        "type": "object",
        "properties": properties,
        "required": ["config"],
        "additionalProperties": False,
    }
    if defs:
        # $ref "#/$defs/..." in the config schema resolves against the document root.
        doc["$defs"] = defs
    return doc


def render() -> str:
    """The file's exact text."""
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the schema, or with --check report whether it is up to date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = SCHEMA_PATH.read_text() if SCHEMA_PATH.exists() else ""
        if current != text:
            sys.stderr.write(
                f"{SCHEMA_PATH.relative_to(ROOT)} is out of date with daemon.config.Settings; "
                "run scripts/gen_values_schema.py\n"
            )
            return 1
        return 0
    SCHEMA_PATH.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
