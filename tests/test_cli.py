"""The CLI: one command per rule of the stage registry, runnable from any folder, with the rule's
settings and threads; user errors are one line and a non-zero exit, never a traceback."""

import subprocess
import sys

import pytest
import yaml

from neurogaze.cli import build_parser, command_name, main
from neurogaze.data.contracts import read_fixations, read_stimulus_set
from neurogaze.stages import STAGES


def _neurogaze(*args, cwd):
    return subprocess.run([sys.executable, "-m", "neurogaze.cli", *args], cwd=cwd, capture_output=True, text=True)


def test_every_rule_of_the_registry_is_a_command():
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {command_name(rule) for rule in STAGES} <= set(commands)


@pytest.mark.parametrize("rule", sorted(STAGES))
def test_every_command_has_help_naming_its_files(rule, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command_name(rule), "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--config" in text and "--threads" in text


def test_every_stage_function_exists_with_keyword_only_parameters():
    import inspect

    for rule, entry in STAGES.items():
        function = entry.load()
        kinds = {parameter.kind for parameter in inspect.signature(function).parameters.values()}
        assert kinds == {inspect.Parameter.KEYWORD_ONLY}, rule


def test_validate_config_runs_from_any_folder(tmp_path):
    result = _neurogaze("validate-config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = yaml.safe_load(result.stdout)
    assert printed["gaze_evaluation"]["split"] == "test"  # a default the demo config leaves out


def test_a_config_outside_config_folder_is_validated_against_the_package_schema(repo_root, tmp_path):
    config = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    config["adhd"]["pca_componets"] = 3
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = _neurogaze("validate-config", "--config", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"neurogaze validate-config: error: {bad}: config key 'adhd.pca_componets': unknown key")


def test_nested_overrides_of_numbers_and_booleans_are_typed(tmp_path, capsys):
    assert main(["validate-config", "--set", "mindeye.model.epochs=7", "--set", "mindeye.low_level.enabled=false",
                 "--set", "braindive.pipeline_dir=null"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["mindeye"]["model"]["epochs"] == 7
    assert printed["mindeye"]["low_level"]["enabled"] is False
    assert printed["braindive"]["pipeline_dir"] is None


def test_a_wrongly_typed_override_is_one_line_naming_the_key(tmp_path):
    result = _neurogaze("validate-config", "--set", "mindeye.model.epochs=many", cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "config key 'mindeye.model.epochs'" in result.stderr


def test_gaze_stages_chain_through_the_cli_from_another_folder(tmp_path):
    raw, data = tmp_path / "raw", tmp_path / "data"
    assert _neurogaze("generate-osie", str(raw), cwd=tmp_path).returncode == 0
    result = _neurogaze("load-osie", str(raw), str(data / "osie" / "fixations.parquet"), str(data / "stimuli"),
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(read_fixations(data / "osie" / "fixations.parquet")) > 0
    assert read_stimulus_set(data / "stimuli").stim_ids


def test_a_loader_error_is_one_line_with_a_non_zero_exit_and_nothing_written(tmp_path):
    raw = tmp_path / "raw"
    (raw / "data" / "eye").mkdir(parents=True)
    (raw / "data" / "eye" / "fixations.mat").write_bytes(b"not a mat file")
    out = tmp_path / "out"
    result = _neurogaze("load-osie", str(raw), str(out / "fixations.parquet"), str(out / "stimuli"), cwd=tmp_path)
    assert result.returncode == 2
    # the stage's log goes to stderr too (no --log); the error is its last line, without a traceback
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("neurogaze load-osie: error: ") and "fixations.mat" in last
    assert "Traceback" not in result.stderr
    assert not out.exists() or not any(out.rglob("*"))


def test_an_oserror_is_one_line_with_exit_1(tmp_path, monkeypatch, capsys):
    """A read-only results folder (simulated where the stage writes: CI runs as root, which ignores
    file permissions)."""
    import functools

    import neurogaze.data.synthetic as synthetic

    @functools.wraps(synthetic.generate)
    def refuse(**_):
        raise PermissionError(13, "Permission denied", str(tmp_path / "results"))

    monkeypatch.setattr(synthetic, "generate", refuse)
    assert main(["generate-osie", str(tmp_path / "results" / "osie")]) == 1
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    error = stderr.strip().splitlines()[-1]
    assert error == f"neurogaze generate-osie: error: [Errno 13] Permission denied: '{tmp_path / 'results'}'"


def test_the_cli_sets_the_threads_it_is_given(tmp_path):
    log = tmp_path / "stage.log"
    result = _neurogaze("generate-osie", str(tmp_path / "raw"), "--threads", "2", "--log", str(log), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "runs on 2 thread(s): torch 2" in log.read_text()
