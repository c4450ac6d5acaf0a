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


# --- the package schema: overrides, paths, sections ------------------------------------------


def test_snakemake_style_text_overrides_become_the_schema_types():
    """Snakemake's --config 'mindeye={model: {epochs: 100}}' delivers every scalar as text."""
    config = validate_config({"mindeye": {"model": {"epochs": "100", "max_lr": "3e-4", "use_prior": "false"},
                                          "variation_pipeline_dir": "null"},
                              "encoding": {"alphas": ["1", "10.5"]}})
    assert config["mindeye"]["model"]["epochs"] == 100
    assert config["mindeye"]["model"]["max_lr"] == 3e-4
    assert config["mindeye"]["model"]["use_prior"] is False
    assert config["mindeye"]["variation_pipeline_dir"] is None
    assert config["encoding"]["alphas"] == [1, 10.5]


def test_text_that_is_not_the_expected_type_is_still_rejected_with_the_key():
    with pytest.raises(ConfigError, match="mindeye.model.epochs"):
        validate_config({"mindeye": {"model": {"epochs": "a hundred"}}})


def test_paths_resolve_against_the_repository_root_not_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = validate_config({"datasets": {"osie": {"root": "data/osie"}}, "backbones": {
        "b": {"model": "RN50", "weights": "weights/rn50.pt"}}}, base_dir="/repo")
    assert config["datasets"]["osie"]["root"] == "/repo/data/osie"
    assert config["backbones"]["b"]["weights"] == "/repo/weights/rn50.pt"
    assert validate_config({"datasets": {"osie": {"root": "/abs/osie"}}})["datasets"]["osie"]["root"] == "/abs/osie"


def test_an_explicit_overrides_list_is_applied(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 3\n")
    config = load_config(path, overrides=["mindeye.model.epochs=5", "device=cpu"])
    assert (config["seed"], config["mindeye"]["model"]["epochs"], config["device"]) == (3, 5, "cpu")
    with pytest.raises(ConfigError, match="dotted.key=value"):
        load_config(path, overrides=["epochs"])


def test_from_section_builds_nested_dataclasses_and_tuples_and_names_unknown_keys():
    from dataclasses import dataclass, field

    from neurogaze.config import from_section

    @dataclass(frozen=True)
    class Inner:
        size: tuple[int, int] = (1, 2)

    @dataclass(frozen=True)
    class Outer:
        inner: Inner = field(default_factory=Inner)
        names: tuple[str, ...] = ()
        seed: int = 0

    built = from_section(Outer, {"inner": {"size": [3, 4]}, "names": ["a"]}, "m", seed=9)
    assert built == Outer(Inner((3, 4)), ("a",), 9)
    with pytest.raises(ConfigError, match=r"config key 'm.inner.sise'"):
        from_section(Outer, {"inner": {"sise": [3, 4]}}, "m")


def test_a_demo_backbone_with_a_weights_file_is_rejected():
    from neurogaze.config import backbone_specs

    config = validate_config({"backbones": {"demo": {"model": "demo", "architecture": {"embed_dim": 8},
                                                     "weights": "/somewhere/demo.pt"}}})
    with pytest.raises(ConfigError, match="backbones.demo.weights"):
        backbone_specs(config)


def test_every_schema_key_is_described():
    from neurogaze.config import load_schema

    missing = []

    def walk(node, path):
        if not isinstance(node, dict):
            return
        if path and "description" not in node:
            missing.append(".".join(path))
        for name, child in node.get("properties", {}).items():
            walk(child, [*path, name])
        for name, child in node.get("$defs", {}).items():
            walk(child, [f"$defs.{name}"])

    walk(load_schema(), [])
    assert not missing, missing
