"""OAT's pieces on cases with known answers: the positional table, the CNN's size, the output
classes, the ring geometry, teacher forcing, decoding and resuming."""

import copy

import numpy as np
import pytest
import torch

from neurogaze.data.gaze.objects import ObjectSearchSet, SearchTrial, grid_positions, ring_size
from neurogaze.gaze.oat.model import AppearanceCNN, OatConfig, conv_output_features, fit_positional_table
from neurogaze.gaze.oat.train import OatData, build_model, decode, loss_of, subject_split, train, validation_delta
from neurogaze.metrics.object_search import behaviour_delta, mean_behaviour

TINY = OatConfig(d_model=24, n_heads=2, encoder_layers=1, decoder_layers=1, feedforward=16, patch_size=(30, 30),
                 pe_positions=4, pe_iterations=200, learning_rate=1e-2, batch_size=4, max_epochs=2, patience=5,
                 max_length=6, n_samples=2, dropout=0.0)


def test_positional_table_has_gaussian_cosines_and_equal_norms():
    table = fit_positional_table(8, 40, sigma=2.0, iterations=1500, learning_rate=0.01, seed=0)
    unit = torch.nn.functional.normalize(table, dim=1)
    index = torch.arange(8.0)
    wanted = torch.exp(-((index[:, None] - index[None]) ** 2) / 8)
    assert torch.allclose(unit @ unit.T, wanted, atol=0.02)
    norms = table.norm(dim=1)
    assert float(norms.std() / norms.mean()) < 0.02


def test_cnn_matches_the_paper_at_150_by_93():
    assert conv_output_features((150, 93)) == 1440
    assert AppearanceCNN((150, 93), 256)(torch.zeros(2, 3, 150, 93)).shape == (2, 256)


def test_ring_code_similarity_falls_with_distance_on_the_ring():
    angles = np.deg2rad(30 + 60 * np.arange(6))
    centres = np.column_stack([512 + 200 * np.sin(angles), 384 - 200 * np.cos(angles)])
    boxes = np.column_stack([centres - 40, centres + 40])
    assert ring_size(boxes) == 6
    model = build_model(OatConfig(d_model=120, n_heads=2, encoder_layers=1, decoder_layers=1, feedforward=8,
                                  patch_size=(30, 30), pe_iterations=1500), ring=6)
    grid = torch.from_numpy(grid_positions(boxes))
    code = model.position_code(grid[:, 0], grid[:, 1], torch.zeros(6, dtype=torch.long))
    unit = torch.nn.functional.normalize(code, dim=1)
    similarity = (unit @ unit.T).numpy()
    k = np.arange(6)
    ring = np.minimum(np.abs(k[:, None] - k), 6 - np.abs(k[:, None] - k))
    for a in range(6):
        by_distance = [similarity[a, ring[a] == d] for d in (1, 2, 3)]
        assert by_distance[0].min() > by_distance[1].max() > by_distance[2].max()


def _toy_set(n_trials=24, seed=0) -> ObjectSearchSet:
    """Four objects on a 2 x 2 grid; every searcher goes 0 -> 1 -> target (object 3)."""
    rng = np.random.default_rng(seed)
    patches = rng.integers(0, 255, (5, 30, 30, 3), dtype=np.uint8)
    boxes = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [0, 20, 10, 30], [20, 20, 30, 30]], float)
    trials = [SearchTrial(f"s{i % 4}", f"t{i}", "L", np.arange(4), boxes, grid_positions(boxes), 3, 3,
                          np.array([0, 1, 3]), (30, 30)) for i in range(n_trials)]
    return ObjectSearchSet("toy", patches, trials)


def test_logits_have_objects_end_and_pad_classes():
    toy = _toy_set()
    model, data = build_model(TINY), OatData(toy, TINY.max_length)
    batch = data.batch(toy.trials[:3])
    assert batch.labels[0].tolist() == [0, 1, 3, 4]  # the sequence, then N = 4 ends it
    objects_memory = model.encode(model.cnn(data.patches[batch.objects.reshape(-1)]).reshape(3, 4, -1), batch.grid,
                                  model.cnn(data.patches[batch.target]), batch.target_index)
    logits = model.decode(objects_memory, model.cnn(data.patches[batch.steps.reshape(-1)]).reshape(3, 4, -1),
                          batch.step_grid, batch.step_flag)
    assert logits.shape == (3, 4, 6)  # N objects + target token + PAD


def test_training_learns_a_fixed_route_and_greedy_decoding_follows_it():
    toy = _toy_set()
    config = OatConfig(**{**TINY.to_dict(), "patch_size": (30, 30), "max_epochs": 60, "patience": 60})
    split = {"train": ["s0", "s1"], "validation": ["s2"], "test": ["s3"]}
    model, progress = train(config, toy, split)
    data = OatData(toy, config.max_length)
    batch = data.batch(toy.trials[:4])
    # early stopping keeps the first epoch whose greedy scanpaths match: well below the untrained loss
    assert loss_of(model.eval(), data, batch).item() < 0.1 * loss_of(build_model(config).eval(), data, batch).item()
    paths = decode(model, data, toy.select(["s3"]).trials, True, None)
    assert all(p.tolist() == [0, 1, 3] for p in paths)


def test_resumed_training_equals_uninterrupted_training():
    toy = _toy_set()
    split = {"train": ["s0", "s1"], "validation": ["s2"], "test": ["s3"]}
    saved = []
    full, _ = train(TINY, toy, split, save=lambda state: saved.append(copy.deepcopy(state)))  # as written to disk
    one_epoch = OatConfig(**{**TINY.to_dict(), "patch_size": (30, 30)})
    resumed, _ = train(one_epoch, toy, split, state=saved[0])
    for name, value in full.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_subject_split_is_disjoint_and_honours_named_subjects():
    subjects = [f"s{i}" for i in range(12)]
    split = subject_split(subjects, test_subjects=["s3"], seed=1)
    assert split["test"] == ["s3"]
    assert sorted(sum(split.values(), [])) == sorted(subjects)
    with pytest.raises(Exception, match="oat.split"):
        subject_split(subjects, test_subjects=["nobody"])


def test_target_token_is_the_target_at_its_layout_position_with_flag_one():
    """Reference ``generate3DInput``: the appended token is the target's position (row, column)
    with is_target 1, next to the target's image."""
    toy = _toy_set()
    model, data = build_model(TINY), OatData(toy, TINY.max_length)
    model.encoder = torch.nn.Identity()  # read the encoder's input tokens
    batch = data.batch(toy.trials[:2])
    features = model.cnn(data.patches[batch.objects.reshape(-1)]).reshape(2, 4, -1)
    target = model.cnn(data.patches[batch.target])
    half = TINY.d_model // 2
    for index in (3, 1):
        memory = model.encode(features, batch.grid, target, torch.tensor([index, index]))
        row, col = batch.grid[0, index]
        wanted = model.position_code(row[None], col[None], torch.ones(1, dtype=torch.long))[0]
        assert torch.equal(memory[0, -1, :half], target[0])
        assert torch.equal(memory[0, -1, half:], wanted)
        plain = model.position_code(row[None], col[None], torch.zeros(1, dtype=torch.long))[0]
        assert not torch.equal(wanted, plain)  # the flag changes the code


def test_decoder_steps_on_the_target_carry_flag_one_in_training_and_decoding():
    toy = _toy_set()
    model, data = build_model(TINY), OatData(toy, TINY.max_length)
    assert data.batch(toy.trials[:1]).step_flag.tolist() == [[0, 0, 0, 1]]  # BOS, 0, 1, then the target 3
    seen = []
    original = model.decode

    def recording(memory, step_features, step_grid, step_flag, padding=None):
        seen.append((step_grid.clone(), step_flag.clone()))
        return original(memory, step_features, step_grid, step_flag, padding)

    model.decode = recording
    decode(model, data, toy.trials[:8], False, torch.Generator().manual_seed(0))
    grid = torch.from_numpy(toy.trials[0].grid)
    step_grid, step_flag = seen[-1]
    position = (step_grid[:, 1:, None, :] == grid[None, None]).all(-1).long().argmax(-1)
    assert torch.equal(step_flag[:, 1:], (position == 3).long())
    assert step_flag[:, 1:].any() and (step_flag[:, 0] == 0).all()


def test_validation_delta_is_the_greedy_scanpaths_pooled_delta():
    """Reference ``validation_step``: one greedy scanpath per validation trial, one delta over
    all of them; no random draw, so the early-stopping score of a model is one number."""
    toy = _toy_set()
    model, data = build_model(TINY), OatData(toy, TINY.max_length)
    trials = toy.select(["s2", "s3"]).trials
    greedy = decode(model, data, trials, True, None)
    wanted = behaviour_delta(mean_behaviour(zip(greedy, [3] * len(trials))),
                             mean_behaviour((t.sequence, 3) for t in trials))
    torch.manual_seed(1)
    first = validation_delta(model, data, trials)
    torch.manual_seed(2)
    assert first == validation_delta(model, data, trials) == pytest.approx(wanted)
