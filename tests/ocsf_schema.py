"""Validate events against the real OCSF schema, as the OCSF project publishes it.

``ocsf-json-schema`` (a dev dependency) ships the OCSF schema exports (1.0.0 … 1.8.0) and
turns a class with its profiles into a JSON Schema (draft 2020-12): required attributes,
types, enum values, object constraints (``at_least_one``), and no attribute the class and
its profiles do not define (``additionalProperties: false``). The export names its
profiles in ``metadata.profiles``; each event is checked against its class with exactly
those profiles, so a profile attribute without its profile fails.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

from agentledger.ocsf import OCSF_VERSION


@cache
def _schema() -> Any:
    return OcsfJsonSchemaEmbedded(get_ocsf_schema(version=OCSF_VERSION))


@cache
def class_validator(class_uid: int, profiles: tuple[str, ...]) -> Draft202012Validator:
    schema = _schema()
    name = schema.lookup_class_name_from_uid(class_uid)
    return Draft202012Validator(schema.get_class_schema(name, list(profiles)))


def schema_problems(event: dict[str, Any]) -> list[str]:
    """Every way ``event`` breaks the OCSF schema of its class and profiles ([] = none)."""
    profiles = tuple(sorted(event.get("metadata", {}).get("profiles", [])))
    validator = class_validator(int(event["class_uid"]), profiles)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<event>'}: {error.message}"
        for error in validator.iter_errors(event)
    ]


def class_attribute(class_uid: int, attribute: str) -> dict[str, Any]:
    """One attribute of a class as the OCSF schema defines it (its requirement, enum…)."""
    classes = get_ocsf_schema(version=OCSF_VERSION)["classes"]
    found = next(c for c in classes.values() if c["uid"] == class_uid)
    attributes: dict[str, Any] = found["attributes"]
    return dict(attributes[attribute])
