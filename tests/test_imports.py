"""Imports: no cycles between neurogaze's modules, internal imports at module top, and the modules
the Snakefile reads at parse time free of torch."""

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
# Imported while Snakemake parses the workflow: they import their generators lazily, so that a
# dry run stays free of torch.
PARSE_TIME = {"neurogaze.data.synthetic"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _internal_imports(tree: ast.Module, module: str, is_package: bool) -> list[tuple[str, bool]]:
    """(imported module, at module top) for every import of a neurogaze module."""
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(anchor[: len(anchor) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [(name, id(node) in top) for name in names if name.startswith("neurogaze")]
    return found


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    modules = {_module_name(path): path for path in SRC.rglob("*.py")}
    edges, body_imports = {}, []
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        for imported, at_top in _internal_imports(tree, name, path.name == "__init__.py"):
            if imported not in modules:
                continue
            if at_top:
                edges.setdefault(name, set()).add(imported)
            elif name not in PARSE_TIME:
                body_imports.append(f"{name} imports {imported} inside a function")
    return edges, body_imports


def test_internal_imports_sit_at_module_top():
    _, body_imports = _graph()
    assert not body_imports, body_imports


def test_no_import_cycles():
    edges, _ = _graph()
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for child in sorted(edges.get(node, ())):
            if state.get(child) == "open":
                cycles.append(stack[stack.index(child):] + [child])
            elif child not in state:
                visit(child, [*stack, child])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    # a package importing its own submodule (neurogaze.data.gaze -> neurogaze.data.gaze.osie) is no cycle
    real = [cycle for cycle in cycles if not all(a.startswith(b) or b.startswith(a) for a, b in zip(cycle, cycle[1:]))]
    assert not real, real


def test_the_workflow_s_parse_time_imports_stay_free_of_torch():
    code = "import sys, neurogaze.stages, neurogaze.config, neurogaze.runlog; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
