"""`neurogaze <stage> ...`: run one pipeline stage by hand, exactly as its Snakemake rule does.

There is one command per rule (``neurogaze mindeye-train`` runs rule ``mindeye_train``), built
from :data:`neurogaze.stages.STAGES`: its positional arguments are the rule's input and output
files (and wildcards) in the stage function's order, its settings come from a pipeline config
validated as the Snakefile does (``--config``, ``--set key.path=value``), and it runs on the
rule's thread count (``--threads``). So the same inputs, config and threads give the same bytes
from the CLI and from ``snakemake``, which remains the way to run the whole DAG.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

from neurogaze import __version__
from neurogaze.config import load_config, repository_root
from neurogaze.errors import NeurogazeError
from neurogaze.runlog import stage_context
from neurogaze.stages import STAGES, stage, stage_params

META_COMMANDS = {"validate-config": "check a config and print it with every default filled in"}


def command_name(rule: str) -> str:
    return rule.replace("_", "-")


def _rule_of(command: str) -> str:
    return command.replace("-", "_")


def default_config() -> Path | None:
    root = repository_root()
    return root / "config" / "config.yaml" if root else None


def _common_options(parser: argparse.ArgumentParser, threads: int | None) -> None:
    default = default_config()
    parser.add_argument("--config", default=default, required=default is None,
                        help="pipeline config (default: the repository's demo config, %(default)s)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override a config value, e.g. --set mindeye.model.epochs=100 (YAML-typed; repeatable)")
    if threads is not None:
        parser.add_argument("--threads", type=int, default=threads,
                            help="torch / numba / BLAS threads, as the rule's `threads:` (default: %(default)s)")
        parser.add_argument("--log", default=None, help="write the stage's log here instead of stderr")


def _load_config(args):
    return load_config(args.config, overrides=args.overrides)


def _file_arguments(function, supplied: set[str]) -> list[inspect.Parameter]:
    """The stage function's parameters that the config does not supply: files and wildcards."""
    return [p for p in inspect.signature(function).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in supplied]


def _stage_parser(command: str, config_args: argparse.Namespace | None) -> tuple[argparse.ArgumentParser, dict]:
    """The parser of one stage command and the params its config gives (None: config unreadable)."""
    rule = _rule_of(command)
    entry = stage(rule)
    function = entry.load()
    parser = argparse.ArgumentParser(prog=f"neurogaze {command}", description=entry.help or function.__doc__)
    _common_options(parser, entry.threads)
    params = stage_params(rule, _load_config(config_args)) if config_args is not None else {}
    for parameter in _file_arguments(function, set(params)):
        choices = entry.choices.get(parameter.name) if entry.choices else None
        many = "list" in str(parameter.annotation)  # a rule input that is a list of files
        if parameter.default is inspect.Parameter.empty:
            parser.add_argument(parameter.name, choices=choices, nargs="+" if many else None)
        else:
            parser.add_argument(f"--{parameter.name.replace('_', '-')}", dest=parameter.name,
                                default=parameter.default, choices=choices, nargs="*" if many else None)
    return parser, params


def _run_stage(command: str, argv: list[str]) -> None:
    pre = argparse.ArgumentParser(add_help=False)
    _common_options(pre, None)
    config_args, _ = pre.parse_known_args(argv)
    wants_help = any(arg in ("-h", "--help") for arg in argv)
    parser, params = _stage_parser(command, None if wants_help and config_args.config is None else config_args)
    args = vars(parser.parse_args(argv))
    threads, log = args.pop("threads"), args.pop("log")
    for option in ("config", "overrides"):
        args.pop(option)
    function = stage(_rule_of(command)).load()
    # settings that depend on a wildcard (e.g. which backbone) are functions of the wildcards, as in the rule
    wildcards = argparse.Namespace(**args)
    params = {name: value(wildcards) if callable(value) else value for name, value in params.items()}
    with stage_context(log, _rule_of(command), threads):
        function(**args, **params)


def _validate_config(argv: list[str]) -> None:
    import yaml

    parser = argparse.ArgumentParser(prog="neurogaze validate-config", description=META_COMMANDS["validate-config"])
    _common_options(parser, None)
    print(yaml.safe_dump(_load_config(parser.parse_args(argv)), sort_keys=False), end="")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: every command with its one-line help (each parses its own options)."""
    parser = argparse.ArgumentParser(prog="neurogaze", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"neurogaze {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command", required=True)
    for name, help_text in META_COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    for rule, entry in STAGES.items():
        sub.add_parser(command_name(rule), help=entry.help, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in parser._subparsers._group_actions[0].choices:
        parser.parse_args(argv)  # prints usage (or the version) and exits
        return 2
    command, rest = argv[0], argv[1:]
    try:
        if command in META_COMMANDS:
            _validate_config(rest)
        else:
            _run_stage(command, rest)
    except NeurogazeError as exc:
        print(f"neurogaze {command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a read-only results folder, a full disk: say so, without a traceback
        print(f"neurogaze {command}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
