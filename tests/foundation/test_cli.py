import subprocess
import sys

import pytest
import yaml

from neurogaze.cli import COMMANDS, main
from neurogaze.data.contracts import read_fixations, read_metrics


def test_every_command_has_help(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "--config" in capsys.readouterr().out


def test_validate_config_fills_defaults(repo_root, capsys):
    assert main(["validate-config", "--config", str(repo_root / "config" / "config.yaml")]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["gaze_evaluation"]["split"] == "test"  # a default the demo config leaves out


def test_bad_config_exits_non_zero_naming_the_key(repo_root, tmp_path):
    config = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    config["adhd"]["pca_componets"] = 3
    (tmp_path / "config").mkdir()
    bad = tmp_path / "config" / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    schema_dir = tmp_path / "workflow" / "schemas"
    schema_dir.mkdir(parents=True)
    (schema_dir / "config.schema.yaml").write_text((repo_root / "workflow/schemas/config.schema.yaml").read_text())
    result = subprocess.run(
        [sys.executable, "-m", "neurogaze.cli", "validate-config", "--config", str(bad)],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "config key 'adhd.pca_componets': unknown key" in result.stderr


def test_gaze_stages_chain_through_the_cli(repo_root, tmp_path):
    config = str(repo_root / "config" / "config.yaml")
    assert main(["generate", "osie", str(tmp_path / "raw"), "--config", config]) == 0
    assert main(["load-gaze", "osie", str(tmp_path / "raw"), str(tmp_path / "data"), "--config", config]) == 0
    fixations, stimuli = tmp_path / "data/gaze/osie/fixations.parquet", tmp_path / "data/stimuli/osie"
    assert len(read_fixations(fixations)) > 0
    out = tmp_path / "centre_bias.parquet"
    assert main(["gaze-baseline", "centre_bias", str(fixations), str(stimuli), str(out), "--config", config]) == 0
    metrics = tmp_path / "metrics.csv"
    args = [str(fixations), str(stimuli), str(metrics), "--predicted", str(out), "--method", "centre_bias"]
    assert main(["evaluate-scanpaths", *args, "--dataset", "osie", "--config", config]) == 0
    table = read_metrics(metrics)
    assert set(table["method"]) == {"centre_bias"}
    assert {"nss", "mm_position", "scanmatch"} <= set(table["metric"])
    assert (table["unit"] == "dataset_mean").any()
