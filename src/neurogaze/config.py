"""Load and validate the pipeline configuration against its JSON schema.

The Snakefile and the CLI call the same function, so a bad key is reported the same way by both:
the dotted key path and what the schema expected, before any job runs.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import jsonschema
import yaml

from neurogaze.errors import ConfigError

REPO_SCHEMA = Path("workflow") / "schemas" / "config.schema.yaml"


def _with_defaults(validator_class):
    """A validator that fills in ``default`` values while it descends (the jsonschema recipe)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def load_schema(schema_path: str | os.PathLike) -> dict:
    with open(schema_path) as handle:
        return yaml.safe_load(handle)


def validate_config(config: dict, schema_path: str | os.PathLike, source: str | os.PathLike | None = None) -> dict:
    """Return a copy of ``config`` with defaults filled in; raise ConfigError on the first problem."""
    config = copy.deepcopy(config) if config is not None else {}
    errors = sorted(_Validator(load_schema(schema_path)).iter_errors(config), key=_error_order)
    if errors:
        key, problem = _describe(errors[0])
        raise ConfigError(source, key, problem)
    return config


def load_config(path: str | os.PathLike, schema_path: str | os.PathLike | None = None) -> dict:
    """Read a YAML config and validate it (schema defaults to the repository's, next to config/)."""
    path = Path(path)
    if schema_path is None:
        schema_path = path.resolve().parent.parent / REPO_SCHEMA
    try:
        with open(path) as handle:
            config = yaml.safe_load(handle) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(path, "<file>", f"not valid YAML ({exc})") from exc
    return validate_config(config, schema_path, source=path)


def _error_order(error: jsonschema.ValidationError):
    return (list(map(str, error.absolute_path)), error.validator)


def _describe(error: jsonschema.ValidationError) -> tuple[str, str]:
    path = [str(part) for part in error.absolute_path]
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - allowed)
        return ".".join(path + [unknown[0]]), f"unknown key (allowed: {', '.join(sorted(allowed))})"
    if error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        return ".".join(path + [missing[0]]), "required key is missing"
    expected = error.schema.get("description")
    problem = error.message if expected is None else f"{error.message} (expected {expected})"
    return ".".join(path) or "<root>", problem


def pipeline_specs(config: dict) -> dict[str, dict]:
    """config['backbones'] with each demo backbone's weights placed under <results_dir>/backbones/,
    so the pipeline builds them once, as a file it tracks, and every stage loads that file."""
    specs = {}
    for name, spec in (config.get("backbones") or {}).items():
        spec = dict(spec)
        if spec.get("architecture") is not None and not spec.get("weights"):
            spec["weights"] = f"{config['results_dir']}/backbones/{name}/{spec['model']}.pt"
        specs[name] = spec
    return specs
