#!/usr/bin/env bash
# Refresh the dependency lock: requirements/lock.txt pins every package (the test extra included)
# for Python 3.11 and later on every platform (uv's universal resolution), and
# requirements/cluster-constraints.txt is the same set without torch, torchvision and the CUDA
# wheels they pull in, for clusters that install their own CUDA build of torch first.
# Pins already in the lock are kept unless a change needs another version; pass --upgrade to
# take new releases. Needs uv (`pip install uv`); run from anywhere, commit both files.
set -euo pipefail
cd "$(dirname "$0")/.."
uv pip compile pyproject.toml --extra test --universal --python-version 3.11 \
  -c requirements/lock-inputs.txt --no-header --annotation-style line -o requirements/lock.txt "$@"
header="# The whole dependency set, pinned (made by scripts/lock.sh; do not edit by hand):
#   pip install -c requirements/lock.txt -e '.[test]'"
{ echo "$header"; grep -v '^#' requirements/lock.txt; } > requirements/lock.txt.tmp
mv requirements/lock.txt.tmp requirements/lock.txt
{
  echo "# requirements/lock.txt without torch, torchvision and their CUDA wheels (made by scripts/lock.sh):"
  echo "# install your cluster's CUDA build of torch + torchvision first, then"
  echo "#   pip install -c requirements/cluster-constraints.txt -e ."
  grep -v -E '^(#|torch==|torchvision==|triton==|nvidia-[a-z0-9-]+==|cuda-[a-z0-9-]+==)' requirements/lock.txt
} > requirements/cluster-constraints.txt
