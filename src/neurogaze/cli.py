"""`neurogaze <stage> ...`: the same library functions the Snakemake rules call."""

from __future__ import annotations

import argparse
import sys

from neurogaze import __version__
from neurogaze.errors import NeurogazeError

# Each stage module registers a subcommand: name -> (help, add_arguments, run).
COMMANDS: dict[str, tuple] = {}


def command(name: str, help_text: str):
    def register(add_arguments):
        def wrap(run):
            COMMANDS[name] = (help_text, add_arguments, run)
            return run

        return wrap

    return register


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("configfile", help="a pipeline config (config/config.yaml or config/paper.yaml)")
    parser.add_argument("--schema", default=None, help="schema path (default: the repository's)")


@command("validate-config", "check a config against the schema and print it with defaults filled in")(
    _config_arguments
)
def _validate_config(args: argparse.Namespace) -> None:
    import yaml

    from neurogaze.config import load_config

    print(yaml.safe_dump(load_config(args.configfile, args.schema), sort_keys=False), end="")


def build_parser() -> argparse.ArgumentParser:
    _import_stage_commands()
    parser = argparse.ArgumentParser(prog="neurogaze", description=__doc__)
    parser.add_argument("--version", action="version", version=f"neurogaze {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, _) in sorted(COMMANDS.items()):
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def _import_stage_commands() -> None:
    """Stage modules register their commands on import; keep this list in step with src/."""
    import importlib

    for module in STAGE_COMMAND_MODULES:
        importlib.import_module(module)


STAGE_COMMAND_MODULES: list[str] = []


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command][2](args)
    except NeurogazeError as exc:
        print(f"neurogaze {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
