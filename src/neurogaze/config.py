"""The pipeline configuration: validation against the schema, and the one way settings reach code.

The Snakefile and the CLI call the same :func:`validate_config`, so a bad key is reported the same
way by both: the dotted key path and what the schema expected, before any job runs. The schema
(``config.schema.yaml`` inside this package; ``workflow/schemas/`` links to it) is the only place a
default is written. Validation also

- turns the strings of command-line overrides (Snakemake's ``--config`` reads every scalar as
  text) into the numbers, booleans and nulls the schema expects;
- resolves every path the schema marks with ``x-path: true`` against the repository root, never
  against the current folder.

A method's code receives a validated section and turns it into its config dataclass with
:func:`from_section`; the dataclasses keep the papers' values visible as their defaults, and a test
checks that they equal the schema's.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import types
import typing
from pathlib import Path

import jsonschema
import yaml

from neurogaze.errors import ConfigError

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")


def repository_root() -> Path | None:
    """The checkout this package runs from (the folder holding the Snakefile), if there is one."""
    candidate = Path(__file__).resolve().parents[2]
    return candidate if (candidate / "Snakefile").is_file() else None


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


def load_schema(schema_path: str | os.PathLike | None = None) -> dict:
    with open(schema_path or SCHEMA_PATH) as handle:
        return yaml.safe_load(handle)


def validate_config(
    config: dict | None,
    schema_path: str | os.PathLike | None = None,
    source: str | os.PathLike | None = None,
    base_dir: str | os.PathLike | None = None,
) -> dict:
    """Return a copy of ``config`` with overrides typed, defaults filled in and paths resolved
    against ``base_dir`` (default: the repository root); raise ConfigError on the first problem."""
    schema = load_schema(schema_path)
    config = _coerce(copy.deepcopy(config) if config is not None else {}, schema, schema)
    errors = sorted(_Validator(schema).iter_errors(config), key=_error_order)
    if errors:
        key, problem = _describe(errors[0])
        raise ConfigError(source, key, problem)
    base = Path(base_dir) if base_dir is not None else repository_root()
    return _in_schema_order(_resolve_paths(config, schema, schema, base, source, ()), schema, schema)


def load_config(path: str | os.PathLike, schema_path: str | os.PathLike | None = None,
                overrides: list[str] | None = None, base_dir: str | os.PathLike | None = None) -> dict:
    """Read a YAML config, apply ``key.path=value`` overrides and validate it."""
    path = Path(path)
    try:
        with open(path) as handle:
            config = yaml.safe_load(handle) or {}
    except FileNotFoundError as exc:
        raise ConfigError(path, "<file>", "no such config file") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(path, "<file>", f"not valid YAML ({exc})") from exc
    for override in overrides or []:
        apply_override(config, override, path)
    return validate_config(config, schema_path, source=path, base_dir=base_dir)


def apply_override(config: dict, override: str, source=None) -> None:
    """``mindeye.model.epochs=100`` -> config["mindeye"]["model"]["epochs"] = 100 (YAML-typed)."""
    key, sep, text = override.partition("=")
    if not sep or not key:
        raise ConfigError(source, override, "an override of the form dotted.key=value")
    node = config
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(source, key, f"'{part}' is not a section")
    try:
        node[leaf] = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, key, f"override value is not valid YAML ({exc})") from exc


# --- overrides arrive as text ----------------------------------------------------------------


def _subschema(schema: dict, root: dict) -> dict:
    ref = schema.get("$ref")
    if ref and ref.startswith("#/"):
        node = root
        for part in ref[2:].split("/"):
            node = node[part]
        return _subschema(node, root)
    return schema


def _types(schema: dict, root: dict) -> set[str]:
    schema = _subschema(schema, root)
    found = set()
    declared = schema.get("type")
    if declared:
        found |= {declared} if isinstance(declared, str) else set(declared)
    for value in schema.get("enum", []) + ([schema["const"]] if "const" in schema else []):
        found.add(_json_type(value))
    for branch in schema.get("oneOf", []) + schema.get("anyOf", []):
        found |= _types(branch, root)
    return found


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _fits(value, allowed: set[str]) -> bool:
    kind = _json_type(value)
    return kind in allowed or (kind == "integer" and "number" in allowed)


def _child_schema(schema: dict, root: dict, key) -> dict:
    schema = _subschema(schema, root)
    properties = schema.get("properties", {})
    if key in properties:
        return properties[key]
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return extra
    for branch in schema.get("oneOf", []) + schema.get("anyOf", []):
        branch = _subschema(branch, root)
        if key in branch.get("properties", {}):
            return branch["properties"][key]
    return {}


def _coerce(value, schema: dict, root: dict):
    """Text where the schema wants a number, boolean, null, list or mapping is read as YAML."""
    if isinstance(value, dict):
        return {key: _coerce(item, _child_schema(schema, root, key), root) for key, item in value.items()}
    if isinstance(value, list):
        items = _subschema(schema, root).get("items", {})
        return [_coerce(item, items, root) for item in value]
    if not isinstance(value, str):
        return value
    allowed = _types(schema, root)
    if "null" in allowed and value in ("null", "~"):
        return None
    if not allowed or "string" in allowed:
        return value
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    if isinstance(parsed, str) and "number" in allowed:  # YAML 1.1 reads "3e-4" (no dot) as text
        try:
            parsed = float(parsed)
        except ValueError:
            return value
    return _coerce(parsed, schema, root) if _fits(parsed, allowed) else value


# --- paths -----------------------------------------------------------------------------------


def _resolve_paths(value, schema: dict, root: dict, base: Path | None, source, key: tuple):
    schema = _subschema(schema, root)
    if isinstance(value, dict):
        return {name: _resolve_paths(item, _child_schema(schema, root, name), root, base, source, (*key, name))
                for name, item in value.items()}
    if isinstance(value, str) and schema.get("x-path"):
        return resolve_path(value, base, source, ".".join(key))
    return value


def resolve_path(value: str, base: Path | None, source=None, key: str = "") -> str:
    """An absolute path as given; a relative one under ``base`` (the repository root)."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    if base is None:
        raise ConfigError(source, key, f"a relative path ({value!r}) needs a repository root to resolve against; "
                          "give an absolute path")
    return str(Path(base) / path)


def _in_schema_order(value, schema: dict, root: dict):
    """Mappings in the schema's key order (free-form keys after, as given): Snakemake compares a
    rule's params as text, so the order keys happen to have in a config file must rerun nothing."""
    if not isinstance(value, dict):
        return value
    declared = list(_subschema(schema, root).get("properties", {}))
    keys = [key for key in declared if key in value] + [key for key in value if key not in declared]
    return {key: _in_schema_order(value[key], _child_schema(schema, root, key), root) for key in keys}


# --- errors ----------------------------------------------------------------------------------


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


# --- sections -> dataclasses -----------------------------------------------------------------


def from_section(cls, values: dict | None, key: str, **fixed):
    """The dataclass ``cls`` from a validated config section (nested sections become nested
    dataclasses, lists become tuples where the field is a tuple); ``fixed`` fields come from
    elsewhere (a derived seed, a size taken from data). Unknown keys raise ConfigError naming
    ``key.<name>``."""
    fields = {field.name: field for field in dataclasses.fields(cls) if field.init}
    hints = typing.get_type_hints(cls)
    values = dict(values or {})
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(None, f"{key}.{unknown[0]}", f"not a setting of {cls.__name__} "
                          f"(known: {', '.join(sorted(fields))})")
    arguments = {name: _field_value(hints[name], value, f"{key}.{name}") for name, value in values.items()}
    try:
        return cls(**{**arguments, **fixed})
    except (TypeError, ValueError) as exc:
        raise ConfigError(None, key, str(exc)) from exc


def optional_section(cls, values: dict | None, key: str):
    """:func:`from_section`, or None where the section is null (a step the config turns off)."""
    return None if values is None else from_section(cls, values, key)


def _field_value(hint, value, key: str):
    for option in _hint_options(hint):
        if dataclasses.is_dataclass(option) and isinstance(value, dict):
            return from_section(option, value, key)
        if typing.get_origin(option) is tuple and isinstance(value, list):
            item_hint = typing.get_args(option)[0] if typing.get_args(option) else None
            return tuple(_field_value(item_hint, item, f"{key}.{number}") for number, item in enumerate(value))
    return value


def _hint_options(hint) -> tuple:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def schema_defaults(dotted: str, schema: dict | None = None) -> dict:
    """The defaults of the schema section at ``dotted`` (e.g. ``mindeye.model``), keyed by field."""
    root = schema or load_schema()
    node = root
    for part in dotted.split("."):
        node = _child_schema(node, root, part)
    properties = _subschema(node, root).get("properties", {})
    return {name: spec["default"] for name, spec in properties.items() if "default" in spec}


# --- backbones -------------------------------------------------------------------------------


def backbone_specs(config: dict) -> dict[str, dict]:
    """config['backbones'] with each demo backbone's weights placed under <results_dir>/backbones/,
    so the pipeline builds them once, as a file it tracks, and every stage loads that file."""
    specs = {}
    for name, spec in (config.get("backbones") or {}).items():
        spec = dict(spec)
        if spec.get("architecture") is not None:
            if spec.get("weights"):
                raise ConfigError(None, f"backbones.{name}.weights", "not with `architecture`: a demo backbone is "
                                  "built by the pipeline under results_dir/backbones/ (drop one of the two)")
            spec["weights"] = f"{config['results_dir']}/backbones/{name}/{spec['model']}.pt"
        specs[name] = spec
    return specs


def backbone_spec(config: dict, name: str) -> dict:
    """One configured backbone's spec (named errors for unknown names and missing weights)."""
    specs = backbone_specs(config)
    if name not in specs:
        raise ConfigError(None, f"backbones.{name}", f"is not configured (configured: {', '.join(sorted(specs))})")
    spec = specs[name]
    if not spec.get("weights") and not spec.get("cache_dir"):
        raise ConfigError(None, f"backbones.{name}.weights", "a local weights file (or cache_dir) is needed: "
                          "nothing is downloaded")
    return {"name": name, **spec}


def backbone_file(config: dict, name: str) -> str:
    """The file (or open_clip cache folder) a backbone loads: the input of every rule that uses it."""
    spec = backbone_spec(config, name)
    return spec["weights"] or spec["cache_dir"]


def backbone_tokenizer(config: dict, name: str) -> list[str]:
    """The tokenizer folder a backbone reads besides its weights (kind albef), as a rule's input
    list: empty for the kinds whose tokenizer sits in their weights or library."""
    tokenizer = backbone_spec(config, name).get("tokenizer")
    return [tokenizer] if tokenizer else []

