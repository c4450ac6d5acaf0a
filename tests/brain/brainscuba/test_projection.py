"""The streamed projection against the direct dense computation, resume, and bad pools."""

import numpy as np
import pytest

from neurogaze.brain.brainscuba.projection import (
    ProjectionConfig,
    open_shards,
    project_dense,
    project_streamed,
)
from neurogaze.errors import DataValidationError


def _pool(rng, n, d, clustered=True):
    # CLIP-like: a shared offset makes the pool anisotropic, norms vary around 10
    base = rng.normal(size=d) * (2.0 if clustered else 0.0)
    pool = rng.normal(size=(n, d)) + base
    return (pool / np.linalg.norm(pool, axis=1, keepdims=True) * rng.uniform(8, 12, size=(n, 1))).astype(np.float32)


def _write_shards(tmp_path, pool, sizes):
    paths, start = [], 0
    for number, size in enumerate(sizes):
        path = tmp_path / f"shard{number}.npy"
        np.save(path, pool[start:start + size])
        paths.append(path)
        start += size
    return paths


@pytest.mark.parametrize("chunk,voxel_batch", [(7, 0), (64, 5), (1000, 3)])
def test_streamed_matches_dense(tmp_path, chunk, voxel_batch):
    rng = np.random.default_rng(0)
    pool = _pool(rng, 300, 16)
    weights = rng.normal(size=(23, 16)).astype(np.float32) * rng.uniform(0.01, 5, size=(23, 1))
    paths = _write_shards(tmp_path, pool, [100, 37, 163])
    streamed = project_streamed(weights, open_shards(paths), ProjectionConfig(chunk_size=chunk,
                                                                              voxel_batch=voxel_batch))
    dense = project_dense(weights, pool)
    np.testing.assert_allclose(streamed, dense, rtol=0, atol=1e-5 * np.abs(dense).max())
    np.testing.assert_allclose(streamed, dense, rtol=1e-5, atol=1e-5)


def test_sharp_softmax_picks_the_nearest_embedding(tmp_path):
    """With a huge temperature the projection is the pool embedding closest in angle, at its norm."""
    rng = np.random.default_rng(1)
    pool = _pool(rng, 50, 8, clustered=False)
    weights = pool[[3, 17]] / 10 + rng.normal(scale=1e-3, size=(2, 8)).astype(np.float32)
    out = project_streamed(weights, open_shards(_write_shards(tmp_path, pool, [50])),
                           ProjectionConfig(temperature=1e4, chunk_size=9))
    np.testing.assert_allclose(out, pool[[3, 17]], atol=1e-4)


def test_resume_continues_after_the_saved_shard(tmp_path):
    rng = np.random.default_rng(2)
    pool = _pool(rng, 120, 8)
    weights = rng.normal(size=(5, 8)).astype(np.float32)
    paths = _write_shards(tmp_path, pool, [40, 40, 40])
    config = ProjectionConfig(chunk_size=16)
    resume = tmp_path / "resume"
    resume.mkdir()
    full = project_streamed(weights, open_shards(paths), config, resume=resume)
    # the saved state says every shard is done: a rerun reads no shard at all
    again = project_streamed(weights, open_shards(paths), config, resume=resume)
    np.testing.assert_array_equal(full, again)
    # a state saved after the first shard, then the rest streamed, gives the same projection
    first = tmp_path / "first"
    first.mkdir()
    project_streamed(weights, open_shards(paths[:1]), config, resume=first)
    resumed = project_streamed(weights, open_shards(paths), config, resume=first)
    np.testing.assert_allclose(resumed, full, atol=1e-6)


def test_mixed_widths_are_a_named_error(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((4, 8), np.float32))
    np.save(tmp_path / "b.npy", np.ones((4, 6), np.float32))
    with pytest.raises(DataValidationError, match=r"b\.npy.*shape\[1\].*8 columns"):
        open_shards([tmp_path / "a.npy", tmp_path / "b.npy"])


def test_nan_embedding_is_a_named_error(tmp_path):
    pool = np.ones((10, 4), np.float32)
    pool[6, 2] = np.nan
    np.save(tmp_path / "a.npy", pool)
    with pytest.raises(DataValidationError, match=r"a\.npy.*row 6.*NaN"):
        project_streamed(np.ones((2, 4), np.float32), open_shards([tmp_path / "a.npy"]), ProjectionConfig(chunk_size=4))


def test_zero_voxel_weight_is_a_named_error(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((10, 4), np.float32))
    weights = np.ones((3, 4), np.float32)
    weights[1] = 0
    with pytest.raises(DataValidationError, match=r"coef_\[1\].*non-zero"):
        project_streamed(weights, open_shards([tmp_path / "a.npy"]))
