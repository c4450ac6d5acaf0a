"""The README's CLI examples are commands the CLI accepts, with arguments in the right places."""

import argparse
import re
import shlex
from pathlib import Path

import pytest

from neurogaze import cli

REPO_ROOT = Path(__file__).resolve().parents[1]


def _examples() -> list[list[str]]:
    text = (REPO_ROOT / "README.md").read_text()
    block = text[text.index("### Running one stage by hand"):text.index("### Threads")]
    commands = re.findall(r"^\.venv/bin/neurogaze (.+?)(?:\s+#.*)?$", block.replace("\\\n", " "), flags=re.M)
    return [shlex.split(command) for command in commands]


STAGE_EXAMPLES = [example for example in _examples() if example[0] not in ("--help", "validate-config")]


def test_the_readme_shows_stage_commands():
    assert len(STAGE_EXAMPLES) >= 3


@pytest.mark.parametrize("example", STAGE_EXAMPLES, ids=lambda example: example[0])
def test_readme_stage_example_parses(example):
    command, *arguments = example
    pre = argparse.ArgumentParser(add_help=False)
    cli._common_options(pre, None)
    config_args, _ = pre.parse_known_args(arguments)
    parser, _ = cli._stage_parser(command, config_args)
    parser.parse_args(arguments)  # a wrong example exits with the usage error
