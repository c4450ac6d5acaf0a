"""A small fake tree standing in for the real datasets and weights that config/paper.yaml names.

paper.yaml marks every site-specific path with a value starting with FILL_IN; here each becomes
a path under a temporary folder: keys ending in ``root`` or ``dir`` become folders in the real
dataset layout (the files each loader's rule lists as inputs), the others become files. A path
template (BrainDiVE's localiser t-maps, with {subject} and {category}) becomes its files.
"""

from pathlib import Path

import yaml

from neurogaze.brain.braindive.rois import tmap_paths

PLACEHOLDER = "FILL_IN"


def write_paper_tree(paper: dict, root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    filled = _fill(paper, root, key="")
    braindive = filled.get("braindive") or {}
    if braindive.get("localiser"):
        for subject in braindive["subjects"]:
            for path in tmap_paths(braindive["localiser"], subject):
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                Path(path).touch()
    configfile = root / "paper_filled.yaml"
    configfile.write_text(yaml.safe_dump(filled))
    return configfile


def _fill(node, root: Path, key: str):
    if isinstance(node, dict):
        return {name: _fill(value, root, name) for name, value in node.items()}
    if isinstance(node, list):
        return [_fill(value, root, key) for value in node]
    if isinstance(node, str) and node.startswith(PLACEHOLDER):
        path = root / (node[len(PLACEHOLDER):].strip("/:") or key)
        if key.endswith(("root", "dir")):
            path.mkdir(parents=True, exist_ok=True)
        elif "{" in str(path):
            pass  # a template: write_paper_tree writes its files
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        return str(path)
    return node
