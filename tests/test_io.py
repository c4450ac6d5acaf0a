import time

import numpy as np
import pytest
import scipy.io

from neurogaze.io import atomic_directory, atomic_path, write_csv, write_mat


def test_atomic_path_moves_into_place_on_success(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as temp:
        temp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    assert list(target.parent.iterdir()) == [target]


def test_atomic_path_leaves_nothing_when_interrupted(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as temp:
            temp.write_text("half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_previous_output_when_rewrite_fails(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temp:
            temp.write_text("new, unfinished")
            raise RuntimeError("crash")
    assert target.read_text() == "old"


def test_atomic_directory_replaces_whole_directory(tmp_path):
    target = tmp_path / "set"
    target.mkdir()
    (target / "stale.txt").write_text("x")
    with atomic_directory(target) as temp:
        (temp / "fresh.txt").write_text("y")
    assert sorted(p.name for p in target.iterdir()) == ["fresh.txt"]
    with pytest.raises(ValueError):
        with atomic_directory(target) as temp:
            (temp / "partial.txt").write_text("z")
            raise ValueError
    assert sorted(p.name for p in target.iterdir()) == ["fresh.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]


def test_write_csv_is_byte_stable(tmp_path):
    import pandas as pd

    table = pd.DataFrame({"a": [0.1 + 0.2, 1 / 3], "b": ["x", "y"]})
    write_csv(tmp_path / "one.csv", table)
    write_csv(tmp_path / "two.csv", table.copy())
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    assert (tmp_path / "one.csv").read_text().splitlines()[1] == "0.3,x"


def test_outputs_get_the_usual_permissions_not_mkstemp_private_ones(tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    os.umask(umask)
    with atomic_path(tmp_path / "out.txt") as temp:
        temp.write_text("x")
    with atomic_directory(tmp_path / "dir") as temp:
        (temp / "f").write_text("y")
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "dir").stat().st_mode) == 0o777 & ~umask


def test_write_torch_gives_identical_bytes_for_identical_payloads(tmp_path):
    import torch

    from neurogaze.io import write_torch

    payload = {"w": torch.arange(6.0).reshape(2, 3), "step": 3}
    write_torch(tmp_path / "a.pt", payload)
    write_torch(tmp_path / "b.pt", payload)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    assert torch.equal(torch.load(tmp_path / "a.pt")["w"], payload["w"])


def test_write_mat_gives_the_same_bytes_at_any_time(tmp_path, monkeypatch):
    """scipy writes the time of writing into a MAT-file's header; write_mat does not."""
    arrays = {"values": np.arange(6.0).reshape(2, 3)}
    write_mat(tmp_path / "a.mat", arrays, do_compression=True)
    monkeypatch.setattr(time, "asctime", lambda *args: "Thu Jan  1 00:00:00 1970")
    write_mat(tmp_path / "b.mat", arrays, do_compression=True)
    assert (tmp_path / "a.mat").read_bytes() == (tmp_path / "b.mat").read_bytes()
    np.testing.assert_array_equal(scipy.io.loadmat(tmp_path / "b.mat")["values"], arrays["values"])
