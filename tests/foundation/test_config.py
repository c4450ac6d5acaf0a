import pytest
import yaml

from neurogaze.config import load_config, validate_config
from neurogaze.errors import ConfigError

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "seed": {"type": "integer", "default": 0},
        "encoding": {
            "type": "object",
            "default": {},
            "additionalProperties": False,
            "properties": {
                "enabled": {"type": "boolean", "default": False},
                "alphas": {"type": "array", "items": {"type": "number"}, "default": [1.0]},
                "cv": {"type": "integer", "minimum": 2, "default": 5},
            },
            "required": ["enabled"],
        },
    },
}


@pytest.fixture
def schema_path(tmp_path):
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(SCHEMA))
    return path


def test_defaults_are_filled_in_nested_sections(schema_path):
    config = validate_config({}, schema_path)
    assert config == {"seed": 0, "encoding": {"enabled": False, "alphas": [1.0], "cv": 5}}


def test_input_is_not_modified(schema_path):
    original = {"encoding": {"enabled": True}}
    validate_config(original, schema_path)
    assert original == {"encoding": {"enabled": True}}


@pytest.mark.parametrize(
    "config, key, words",
    [
        ({"encoding": {"enabled": True, "alpha": [1]}}, "encoding.alpha", "unknown key"),
        ({"seeed": 1}, "seeed", "unknown key"),
        ({"encoding": {"enabled": True, "cv": "five"}}, "encoding.cv", "not of type 'integer'"),
        ({"encoding": {"enabled": True, "cv": 1}}, "encoding.cv", "minimum"),
        ({"encoding": {"enabled": True, "alphas": [1, "x"]}}, "encoding.alphas.1", "not of type 'number'"),
    ],
)
def test_bad_config_names_the_key(schema_path, config, key, words):
    with pytest.raises(ConfigError) as info:
        validate_config(config, schema_path, source="my.yaml")
    assert info.value.key == key
    assert words in str(info.value)
    assert str(info.value).startswith("my.yaml: config key")


def test_load_config_reports_yaml_syntax(tmp_path, schema_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: [1\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path, schema_path)
