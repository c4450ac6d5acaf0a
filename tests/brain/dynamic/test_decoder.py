"""Planted truth: motion-selective voxels carry each clip's direction and speed; the first frame
shows where things move (a full-field grating or a disc). The decoder must beat the same decoder
fed shuffled fMRI (permutation test) and the training mean flow (paired signed-rank test); with
noise-only voxels it must not beat the shuffled control."""

import numpy as np
from scipy.stats import wilcoxon

from neurogaze.brain.dynamic.decoder import FlowDecoder, FlowDecoderConfig, RidgeFlowDecoder
from neurogaze.brain.dynamic.evaluate import end_point_error, permutation_test

from .conftest import GRID

CONFIG = FlowDecoderConfig(n_codes=40, grid=GRID, fmri_dim=32, hidden=64, channels=32, epochs=60, batch_size=16,
                           dropout=0.1)


def _fit(data, config=CONFIG, **kwargs):
    train = ~data["test"]
    return FlowDecoder(config).fit(data["fmri"][train], data["image"][train], data["flow"][train], **kwargs)


def _scores(data, decoder):
    test = data["test"]
    fmri, image, flow = data["fmri"][test], data["image"][test], data["flow"][test]
    result = permutation_test(lambda rows: decoder.predict(rows, image), fmri, flow, 999, seed=1)
    decoded = end_point_error(decoder.predict(fmri, image), flow)
    mean_flow = end_point_error(np.broadcast_to(data["flow"][~test].mean(0), flow.shape), flow)
    return result, decoded, mean_flow


def test_decoder_beats_shuffled_fmri_and_mean_flow(clips):
    result, decoded, mean_flow = _scores(clips, _fit(clips))
    print(f"EPE decoder {decoded.mean():.3f}, shuffled fMRI {result['null_mean']:.3f} (p = {result['p_value']:.4f}), "
          f"mean flow {mean_flow.mean():.3f}, n = {len(decoded)}")
    assert result["p_value"] < 0.01
    assert wilcoxon(decoded, mean_flow, alternative="less").pvalue < 0.01


def test_noise_voxels_do_not_beat_shuffled_fmri(noise_clips):
    result, _, _ = _scores(noise_clips, _fit(noise_clips))
    assert result["p_value"] > 0.01


def test_ridge_baseline_uses_the_fmri(clips):
    test = clips["test"]
    ridge = RidgeFlowDecoder().fit(clips["fmri"][~test], clips["flow"][~test])
    decoded = end_point_error(ridge.predict(clips["fmri"][test]), clips["flow"][test])
    shuffled = end_point_error(ridge.predict(clips["fmri"][test][::-1]), clips["flow"][test])
    assert wilcoxon(decoded, shuffled, alternative="less").pvalue < 0.01


def test_resume_gives_the_same_model(clips):
    small = FlowDecoderConfig(**{**CONFIG.to_dict(), "epochs": 4})
    saved = []
    whole = _fit(clips, small, save=saved.append)
    resumed = _fit(clips, small, state=saved[1])  # as if stopped after epoch 2
    for name, value in whole.network_.state_dict().items():
        np.testing.assert_allclose(resumed.network_.state_dict()[name].numpy(), value.numpy(), atol=1e-6)
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3, 4]
    again = FlowDecoder.from_state(small, whole.state())
    test = clips["test"]
    np.testing.assert_allclose(again.predict(clips["fmri"][test], clips["image"][test]),
                               whole.predict(clips["fmri"][test], clips["image"][test]), atol=1e-6)
