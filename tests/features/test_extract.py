"""Cached feature extraction: contract files, byte-identical reruns, resuming after an interruption."""

import numpy as np
import pytest

import neurogaze.features.extract as extract_module
from neurogaze.backbones import DEMO_CLIP_ARCHITECTURE, build_backbone
from neurogaze.data.contracts import read_features, write_stimulus_set
from neurogaze.errors import DataValidationError
from neurogaze.features import embed_images, embed_texts, extract_features, features_path
from neurogaze.features.extract import partial_dir

N_IMAGES = 11


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    weights = tmp_path_factory.mktemp("weights") / "demo-clip.pt"
    return {
        "name": "demo-clip",
        "model": "demo-clip",
        "architecture": DEMO_CLIP_ARCHITECTURE,
        "seed": 0,
        "weights": str(weights),
    }


@pytest.fixture(scope="module")
def backbone(spec):
    """Built once: extraction accepts a built backbone as well as a spec."""
    return build_backbone(spec)


@pytest.fixture(scope="module")
def stimuli(tmp_path_factory):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (N_IMAGES, 24, 30, 3), dtype=np.uint8)
    root = tmp_path_factory.mktemp("stimuli") / "tiny"
    write_stimulus_set(
        root,
        [f"img{i:02d}" for i in range(N_IMAGES)],
        images,
        ["train"] * 8 + ["test"] * 3,
        extra_columns={"caption": [f"picture number {i}" for i in range(N_IMAGES)]},
        as_h5=True,
    )
    return root, images


def test_features_path_follows_the_contract(tmp_path):
    assert features_path("results", "demo-clip", "nsd").as_posix() == "results/features/demo-clip/nsd.npy"
    assert features_path("results", "demo-clip", "nsd", "text").name == "nsd.text.npy"


def test_extract_writes_contract_files_equal_to_direct_embedding(tmp_path, spec, stimuli):
    root, images = stimuli
    out = extract_features(spec, root, tmp_path / "demo-clip" / "tiny.npy", batch_size=4, device="cpu")
    features, ids = read_features(out)
    assert features.shape == (N_IMAGES, 32) and features.dtype == np.float32
    assert ids == [f"img{i:02d}" for i in range(N_IMAGES)]
    np.testing.assert_array_equal(features, embed_images(spec, list(images), batch_size=4, device="cpu"))
    assert not partial_dir(out).exists()


def test_rerun_is_byte_identical(tmp_path, spec, backbone, stimuli):
    root, _ = stimuli
    first = extract_features(spec, root, tmp_path / "a.npy", batch_size=4, device="cpu")
    second = extract_features(backbone, root, tmp_path / "b.npy", batch_size=4, device="cpu")
    assert first.read_bytes() == second.read_bytes()


def test_interrupted_extraction_resumes_with_the_remaining_batches(tmp_path, backbone, stimuli, monkeypatch):
    root, _ = stimuli
    reference = extract_features(backbone, root, tmp_path / "reference.npy", batch_size=3, device="cpu")
    original = extract_module._embed_batch
    calls = []

    def failing(model, stimuli_set, ids, modality, text_column):
        calls.append(ids)
        if len(calls) == 3:
            raise KeyboardInterrupt("simulated interruption")
        return original(model, stimuli_set, ids, modality, text_column)

    monkeypatch.setattr(extract_module, "_embed_batch", failing)
    out = tmp_path / "resumed.npy"
    with pytest.raises(KeyboardInterrupt):
        extract_features(backbone, root, out, batch_size=3, device="cpu")
    assert not out.exists()
    assert sorted(p.name for p in partial_dir(out).glob("batch_*.npy")) == ["batch_000000.npy", "batch_000001.npy"]
    calls.clear()
    monkeypatch.setattr(extract_module, "_embed_batch", lambda *a: calls.append(a[2]) or original(*a))
    extract_features(backbone, root, out, batch_size=3, device="cpu")
    assert calls == [[f"img{i:02d}" for i in range(6, 9)], [f"img{i:02d}" for i in range(9, 11)]]
    assert out.read_bytes() == reference.read_bytes()


def test_stale_partial_batches_from_other_settings_are_discarded(tmp_path, backbone, stimuli):
    root, _ = stimuli
    out = tmp_path / "x.npy"
    work = partial_dir(out)
    work.mkdir()
    np.save(work / "batch_000000.npy", np.zeros((4, 32), dtype=np.float32))
    (work / "manifest.json").write_text("{}\n")
    features, _ = read_features(extract_features(backbone, root, out, batch_size=4, device="cpu"))
    assert np.abs(features[:4]).max() > 0


def test_text_features_embed_the_caption_column(tmp_path, backbone, stimuli):
    root, _ = stimuli
    out = extract_features(backbone, root, tmp_path / "tiny.text.npy", modality="text", batch_size=5, device="cpu")
    features, _ = read_features(out)
    captions = [f"picture number {i}" for i in range(N_IMAGES)]
    np.testing.assert_allclose(features, embed_texts(backbone, captions), atol=1e-5)


def test_missing_text_column_is_named(tmp_path, spec, stimuli):
    root, _ = stimuli
    with pytest.raises(DataValidationError, match="index.parquet.*'title'"):
        extract_features(spec, root, tmp_path / "t.npy", modality="text", text_column="title")
    assert not (tmp_path / "t.npy").exists()


def test_missing_stimulus_index_is_named(tmp_path, spec):
    with pytest.raises(DataValidationError, match="index.parquet"):
        extract_features(spec, tmp_path / "nowhere", tmp_path / "f.npy")


def test_embed_images_accepts_a_built_backbone(spec, backbone, stimuli):
    _, images = stimuli
    np.testing.assert_array_equal(
        embed_images(backbone, list(images[:3])), embed_images(spec, list(images[:3]), device="cpu")
    )
    assert embed_images(backbone, []).shape == (0, 32)
