"""The README's CLI examples are commands the CLI accepts, with arguments in the right places."""

import argparse
import re
import shlex

import pytest

from neurogaze import cli


def _examples(repo_root) -> list[list[str]]:
    text = (repo_root / "README.md").read_text()
    block = text[text.index("### Running one stage by hand"):text.index("### Threads")]
    commands = re.findall(r"^\.venv/bin/neurogaze (.+?)(?:\s+#.*)?$", block.replace("\\\n", " "), flags=re.M)
    return [shlex.split(command) for command in commands]


def test_the_readme_shows_stage_commands(repo_root):
    assert len([example for example in _examples(repo_root) if example[0] not in ("--help", "validate-config")]) >= 3


@pytest.mark.parametrize("index", range(6))
def test_readme_stage_example_parses(repo_root, index):
    examples = [example for example in _examples(repo_root) if example[0] not in ("--help", "validate-config")]
    if index >= len(examples):
        pytest.skip("fewer examples")
    command, *arguments = examples[index]
    pre = argparse.ArgumentParser(add_help=False)
    cli._common_options(pre, None)
    config_args, _ = pre.parse_known_args(arguments)
    parser, _ = cli._stage_parser(command, config_args)
    parser.parse_args(arguments)  # a wrong example exits with the usage error
