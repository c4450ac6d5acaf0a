"""The rule files as a newcomer reads them: every rule declares its log and threads in one block
order, takes its params and threads from the stage registry, and its script is one call of the
registry's function for that rule."""

import ast
import re
from pathlib import Path

import pytest

from neurogaze.stages import STAGES

RULES_DIR = Path(__file__).resolve().parents[2] / "workflow" / "rules"
SCRIPTS_DIR = RULES_DIR.parent / "scripts"
ORDER = ("name", "input", "output", "log", "wildcard_constraints", "params", "threads", "priority", "resources",
         "conda", "script")


def _rules() -> list[dict]:
    """Each rule (or checkpoint) of the .smk files: its name (a pattern for generated rules) and directives in order."""
    rules = []
    for path in sorted(RULES_DIR.glob("*.smk")):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            head = re.match(r"^(\s*)(?:rule|checkpoint)(?: (\w+))?:\s*$", line)
            if not head:
                continue
            indent = len(head.group(1)) + 4
            rule = {"file": path.name, "name": head.group(2), "directives": [], "text": {}}
            body = lines[number + 1:]
            for offset, text in enumerate(body):
                if text.strip() and len(text) - len(text.lstrip()) < indent:
                    break
                directive = re.match(rf"^ {{{indent}}}(\w+):\s*(.*)$", text)
                if directive:
                    value = directive.group(2) or next((line.strip() for line in body[offset + 1:] if line.strip()), "")
                    rule["directives"].append(directive.group(1))
                    rule["text"][directive.group(1)] = value
            if rule["name"] is None:  # name: f"generate_{_name}" -> a pattern over the registry
                rule["name"] = re.sub(r"\{[^}]+\}", "*", rule["text"]["name"].strip("f\"'"))
            rules.append(rule)
    return rules


RULES = _rules()


EXPLICIT = {rule["name"] for rule in RULES if "*" not in rule["name"]}


def _rule_names(pattern: str) -> list[str]:
    """The registry entries a rule stands for: itself, or for a generated rule every entry its
    name pattern matches that no explicit rule claims."""
    if "*" not in pattern:
        return [pattern] if pattern in STAGES else []
    regex = re.compile("^" + re.escape(pattern).replace(r"\*", r"\w+") + "$")
    return sorted(name for name in STAGES if regex.match(name) and name not in EXPLICIT)


def test_the_rule_files_were_read():
    assert len(RULES) >= 30 and {rule["file"] for rule in RULES} >= {"data.smk", "mindeye.smk", "gaze.smk"}


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule["name"])
def test_rule_declares_log_threads_and_script_in_one_order(rule):
    assert {"log", "threads", "script"} <= set(rule["directives"]), rule
    assert list(rule["directives"]) == sorted(rule["directives"], key=ORDER.index), rule["directives"]
    assert "stage_threads(" in rule["text"]["threads"], rule["text"]["threads"]


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule["name"])
def test_rule_is_in_the_registry(rule):
    assert _rule_names(rule["name"]), f"{rule['name']} has no entry in neurogaze.stages.STAGES"


def _script_call(path: Path) -> str:
    """'module:function' that a workflow script calls, checking it is the one-call template."""
    tree = ast.parse(path.read_text())
    imports = {alias.asname or alias.name: f"{node.module}.{alias.name}" for node in tree.body
               if isinstance(node, ast.ImportFrom) for alias in node.names}
    (block,) = [node for node in tree.body if isinstance(node, ast.With)]
    assert ast.unparse(block.items[0]) == "job(snakemake) as arguments", path
    (statement,) = block.body
    call = statement.value
    assert isinstance(call, ast.Call) and [ast.unparse(k) for k in call.keywords] == ["**arguments"], path
    target = ast.unparse(call.func)
    owner, _, attribute = target.rpartition(".")
    return f"{imports[owner]}:{attribute}" if owner else imports[target].replace(f".{target}", f":{target}")


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule["name"])
def test_rule_script_calls_the_registry_s_function(rule):
    script = SCRIPTS_DIR / Path(rule["text"]["script"].strip("\"'")).name
    called = _script_call(script)
    for name in _rule_names(rule["name"]):
        assert STAGES[name].function == called, (name, STAGES[name].function, called)


def test_every_script_belongs_to_a_rule():
    used = {Path(rule["text"]["script"].strip("\"'")).name for rule in RULES}
    assert {path.name for path in SCRIPTS_DIR.glob("*.py")} == used
