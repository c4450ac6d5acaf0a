"""ClipCap: the reference's checkpoint layout, loading released and demo captioners through one
path, beam search against known answers, and a tiny captioner trained on the demo world."""

import itertools
import json
import logging
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from transformers import AutoTokenizer, GPT2Config

from neurogaze.backbones import clipcap
from neurogaze.backbones.clipcap import (
    ClipCapArchitecture,
    ClipCaptionModel,
    ClipCapTrainingConfig,
    beam_search,
    build_word_tokenizer,
    demo_gpt2_config,
    evaluate_captioner,
    generate_beam,
    load_captioner,
    load_clipcap,
    mapper_sizes,
    read_state_dict,
    train_clipcap,
    word_recall_table,
)
from neurogaze.config import from_section
from neurogaze.data.coco import load_coco
from neurogaze.data.synthetic.world import WorldConfig, generate_world
from neurogaze.errors import ConfigError, DataValidationError, MissingWeightsError

CAPTIONS = ["a small horse right of a large rocket.", "a red ball left of a face on a brick wall.",
            "grass with a large cup of coffee on the left.", "a page of text on the night sky."]
TINY_GPT = ClipCapArchitecture(n_positions=32, n_embd=64, n_layer=2, n_head=2)
# The demo's scale-down of the paper's training: a tiny GPT-2, a larger lr, warm-up ~10% of the steps.
TINY_TRAINING = {"lr": 3e-3, "warmup_steps": 15, "epochs": 10, "batch_size": 40,
                 "architecture": {"n_positions": 32, "n_embd": 64, "n_layer": 2, "n_head": 2}}


# tiny models on a busy 2-core machine run several times faster on one intra-op thread
pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model(prefix_size=16, prefix_length=10, seed=0):
    tokenizer = build_word_tokenizer(CAPTIONS, model_max_length=TINY_GPT.n_positions)
    gpt_config = demo_gpt2_config(TINY_GPT, tokenizer)
    torch.manual_seed(seed)
    return ClipCaptionModel(gpt_config, prefix_length, prefix_size).eval(), tokenizer, gpt_config


def gpt2_folder(path, gpt_config, tokenizer):
    gpt_config.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def released_style_checkpoint(path, model, n_positions):
    """A state dict as transformers ~4.10 saved it: with each layer's causal-mask buffers."""
    state = dict(model.state_dict())
    for layer in range(model.gpt.config.n_layer):
        state[f"gpt.transformer.h.{layer}.attn.bias"] = torch.tril(
            torch.ones(n_positions, n_positions, dtype=torch.uint8)).view(1, 1, n_positions, n_positions)
        state[f"gpt.transformer.h.{layer}.attn.masked_bias"] = torch.tensor(-1e4)
    torch.save(state, path)
    return path


# --- the reference's layout ---------------------------------------------------------------------


def reference_coco_layout() -> dict[str, tuple[int, ...]]:
    """coco_weights.pt's keys and shapes (less the two stale attention buffers per layer)."""
    layout = {"clip_project.model.0.weight": (3840, 512), "clip_project.model.0.bias": (3840,),
              "clip_project.model.2.weight": (7680, 3840), "clip_project.model.2.bias": (7680,),
              "gpt.transformer.wte.weight": (50257, 768), "gpt.transformer.wpe.weight": (1024, 768),
              "gpt.transformer.ln_f.weight": (768,), "gpt.transformer.ln_f.bias": (768,),
              "gpt.lm_head.weight": (50257, 768)}
    for i in range(12):
        block = f"gpt.transformer.h.{i}"
        layout.update({f"{block}.ln_1.weight": (768,), f"{block}.ln_1.bias": (768,),
                       f"{block}.attn.c_attn.weight": (768, 2304), f"{block}.attn.c_attn.bias": (2304,),
                       f"{block}.attn.c_proj.weight": (768, 768), f"{block}.attn.c_proj.bias": (768,),
                       f"{block}.ln_2.weight": (768,), f"{block}.ln_2.bias": (768,),
                       f"{block}.mlp.c_fc.weight": (768, 3072), f"{block}.mlp.c_fc.bias": (3072,),
                       f"{block}.mlp.c_proj.weight": (3072, 768), f"{block}.mlp.c_proj.bias": (768,)})
    return layout


def test_gpt2_124m_model_has_the_reference_state_dict_layout():
    with torch.device("meta"):  # shapes without memory or weights
        model = ClipCaptionModel(GPT2Config(), prefix_length=10, prefix_size=512)
    layout = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    assert layout == reference_coco_layout()
    assert isinstance(model.clip_project.model[1], nn.Tanh) and len(model.clip_project.model) == 3


def test_mapper_sizes_follow_the_reference_formula_and_long_prefixes_use_one_linear():
    assert mapper_sizes(512, 768, 10) == (512, 3840, 7680)
    model, _, _ = tiny_model(prefix_size=16, prefix_length=10)
    shapes = {key: tuple(v.shape) for key, v in model.state_dict().items() if key.startswith("clip_project")}
    assert shapes == {"clip_project.model.0.weight": (320, 16), "clip_project.model.0.bias": (320,),
                      "clip_project.model.2.weight": (640, 320), "clip_project.model.2.bias": (640,)}
    long, _, _ = tiny_model(prefix_size=16, prefix_length=12)
    assert isinstance(long.clip_project, nn.Linear) and tuple(long.clip_project.weight.shape) == (64 * 12, 16)
    assert long.project(torch.zeros(3, 16)).shape == (3, 12, 64)


def test_loss_is_cross_entropy_of_the_caption_tokens_after_the_prefix():
    model, tokenizer, _ = tiny_model()
    tokens = torch.tensor([tokenizer.encode(CAPTIONS[0], add_special_tokens=False)])
    prefix = torch.randn(1, 16)
    padded = torch.cat((tokens, torch.zeros(1, 3, dtype=torch.long)), dim=1)
    mask = torch.cat((torch.ones(1, 10 + tokens.shape[1]), torch.zeros(1, 3)), dim=1)
    logits = model(tokens, prefix)[0, 9:-1]
    expected = nn.functional.cross_entropy(logits, tokens[0])
    torch.testing.assert_close(model.loss(padded, prefix, mask), expected)


# --- loading ------------------------------------------------------------------------------------


def test_released_style_checkpoint_loads_strict_after_dropping_the_stale_buffers(tmp_path):
    model, tokenizer, gpt_config = tiny_model()
    weights = released_style_checkpoint(tmp_path / "coco_weights.pt", model, TINY_GPT.n_positions)
    folder = gpt2_folder(tmp_path / "gpt2", gpt_config, tokenizer)
    state = read_state_dict(weights)
    assert len(torch.load(weights, weights_only=True)) - len(state) == 2 * TINY_GPT.n_layer
    assert "gpt.transformer.h.0.attn.c_attn.bias" in state
    rng = torch.get_rng_state()
    loaded = load_clipcap(weights, folder, prefix_length=10, prefix_size=16)
    assert torch.equal(torch.get_rng_state(), rng)  # the throw-away init used a forked RNG
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    embeddings = np.random.default_rng(0).normal(size=(3, 16)).astype(np.float32)
    expected = [generate_beam(model, tokenizer, model.project(torch.from_numpy(row)[None])) for row in embeddings]
    assert loaded.caption(embeddings) == expected


def test_wrong_architecture_names_the_file_the_key_and_the_shapes(tmp_path):
    model, tokenizer, gpt_config = tiny_model(prefix_size=16)
    weights = released_style_checkpoint(tmp_path / "coco_weights.pt", model, TINY_GPT.n_positions)
    folder = gpt2_folder(tmp_path / "gpt2", gpt_config, tokenizer)
    with pytest.raises(DataValidationError, match=r"coco_weights\.pt.*clip_project\.model\.0\.weight.*\(320, 512\)"
                       r".*\(320, 16\)") as error:
        load_clipcap(weights, folder, prefix_length=10, prefix_size=512)
    assert error.value.path == str(weights) and error.value.field == "clip_project.model.0.weight"
    wider = gpt2_folder(tmp_path / "wider", GPT2Config(**{**gpt_config.to_dict(), "n_embd": 32}), tokenizer)
    with pytest.raises(DataValidationError, match=r"gpt\.transformer\.wte\.weight.*shape \(\d+, 32\)"):
        load_clipcap(weights, wider, prefix_length=10, prefix_size=16)
    state = torch.load(weights, weights_only=True)
    del state["gpt.transformer.ln_f.bias"]
    torch.save(state, tmp_path / "missing.pt")
    with pytest.raises(DataValidationError, match=r"missing\.pt.*gpt\.transformer\.ln_f\.bias.*missing"):
        load_clipcap(tmp_path / "missing.pt", folder, prefix_length=10, prefix_size=16)
    torch.save({**model.state_dict(), "extra.weight": torch.zeros(1)}, tmp_path / "extra.pt")
    with pytest.raises(DataValidationError, match=r"extra\.pt.*extra\.weight"):
        load_clipcap(tmp_path / "extra.pt", folder, prefix_length=10, prefix_size=16)


def test_missing_files_say_what_to_download(tmp_path):
    model, tokenizer, gpt_config = tiny_model()
    folder = gpt2_folder(tmp_path / "gpt2", gpt_config, tokenizer)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(MissingWeightsError, match=r"coco_weights\.pt.*CLIP_prefix_caption"):
        load_clipcap(tmp_path / "nowhere.pt", folder, prefix_size=16)
    with pytest.raises(MissingWeightsError, match=r"nowhere.*'gpt2' model of the Hugging Face hub"):
        load_clipcap(tmp_path / "weights.pt", tmp_path / "nowhere", prefix_size=16)
    config_only = tmp_path / "config-only"
    gpt_config.save_pretrained(config_only)
    with pytest.raises(MissingWeightsError, match="no tokenizer"):
        load_clipcap(tmp_path / "weights.pt", config_only, prefix_size=16)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataValidationError, match=r"junk\.pt.*state dict"):
        load_clipcap(tmp_path / "junk.pt", folder, prefix_size=16)


def test_word_tokenizer_loads_through_auto_tokenizer_like_gpt2(tmp_path):
    tokenizer = build_word_tokenizer(CAPTIONS)
    gpt2_folder(tmp_path / "gpt2", demo_gpt2_config(TINY_GPT, tokenizer), tokenizer)
    loaded = AutoTokenizer.from_pretrained(str(tmp_path / "gpt2"), local_files_only=True)
    ids = loaded.encode("A small horse right of a large rocket.", add_special_tokens=False)
    assert ids == tokenizer.encode(CAPTIONS[0], add_special_tokens=False)
    assert loaded.decode(ids) == CAPTIONS[0]
    assert loaded.convert_ids_to_tokens(ids)[-2:] == ["rocket", "."]
    assert (loaded.pad_token, loaded.eos_token) == ("<|pad|>", "<|endoftext|>")
    assert build_word_tokenizer(list(reversed(CAPTIONS))).get_vocab() == tokenizer.get_vocab()


# --- beam search --------------------------------------------------------------------------------


class MarkovGPT(nn.Module):
    """A 'GPT-2' whose next-token log-probs depend on the last input token only (inputs are
    one-hot token embeddings): a chain whose best caption is known by enumeration."""

    def __init__(self, log_probs: torch.Tensor):
        super().__init__()
        self.table = log_probs
        self.transformer = SimpleNamespace(wte=nn.Embedding.from_pretrained(torch.eye(len(log_probs))))
        self.config = SimpleNamespace(n_positions=64)

    def forward(self, inputs_embeds):
        logits = self.table[inputs_embeds[:, -1].argmax(-1)]
        return SimpleNamespace(logits=logits.unsqueeze(1).expand(-1, inputs_embeds.shape[1], -1))


def markov_chain():
    tokenizer = build_word_tokenizer(["a b c d ."])
    vocab = tokenizer.get_vocab()
    start = vocab["<|pad|>"]  # the prefix: the one-hot of this row
    probs = torch.full((len(vocab), len(vocab)), 1e-9)
    for before, after, p in [(start, "a", 0.6), (start, "b", 0.4), ("a", ".", 0.9), ("a", "c", 0.1), ("b", "c", 1.0),
                             ("c", "d", 1.0), ("d", ".", 1.0)]:
        probs[vocab[before] if isinstance(before, str) else before, vocab[after]] = p
    return tokenizer, torch.log_softmax(torch.log(probs), dim=-1), start


def enumerate_captions(log_probs, start, stop, max_tokens):
    """Every caption up to max_tokens (ending at the stop token, or cut at max_tokens) with its
    summed and mean log-prob, by brute force."""
    found = []
    for length in range(1, max_tokens + 1):
        for sequence in itertools.product(range(len(log_probs)), repeat=length):
            if stop in sequence[:-1] or (sequence[-1] != stop and length < max_tokens):
                continue
            steps = zip((start, *sequence[:-1]), sequence)
            total = float(sum(log_probs[before, after] for before, after in steps))
            found.append((list(sequence), total, total / length))
    return found


def test_beam_search_ranks_by_length_normalised_log_prob_and_finds_the_known_best():
    tokenizer, log_probs, start = markov_chain()
    stop = tokenizer.get_vocab()["."]
    model = nn.Module()
    model.gpt = MarkovGPT(log_probs)
    prefix = model.gpt.transformer.wte(torch.tensor([[start]]))
    # Greedy and summed log-prob would say "a."; the mean log-prob of "b c d." is higher.
    found = enumerate_captions(log_probs, start, stop, max_tokens=5)
    by_mean = sorted(found, key=lambda item: -item[2])
    assert tokenizer.decode(max(found, key=lambda item: item[1])[0]) == "a."
    assert tokenizer.decode(by_mean[0][0]) == "b c d."
    assert generate_beam(model, tokenizer, prefix, beam_size=5, max_tokens=5) == "b c d."
    (beams,) = beam_search(model.gpt, prefix, stop, beam_size=5, max_tokens=5)
    for (tokens, score), (expected, _, mean) in zip(beams[:3], by_mean[:3]):
        assert tokens == expected and score == pytest.approx(mean, abs=1e-5)
    assert generate_beam(model, tokenizer, prefix, beam_size=1, max_tokens=5) == "a."  # beam 1 is greedy


def one_by_one_beam_search(gpt, prefix, stop, beam_size, max_tokens):
    """The reference's algorithm written per hypothesis, with a forward pass per beam."""
    wte = gpt.transformer.wte

    def next_log_probs(tokens):
        embeddings = torch.cat((prefix, wte(torch.tensor([tokens], dtype=torch.long))), dim=1) if tokens else prefix
        return torch.log_softmax(gpt(inputs_embeds=embeddings).logits[0, -1].float(), -1)

    first = next_log_probs([])
    beams = [([int(t)], float(first[t]), 1, int(t) == stop) for t in first.topk(beam_size).indices]
    for _ in range(1, max_tokens):
        if all(done for *_, done in beams):
            break
        candidates = []
        for tokens, total, length, done in beams:
            if done:
                candidates.append((tokens + [0], total, length, True))
                continue
            log_probs = next_log_probs(tokens)
            candidates += [(tokens + [t], total + float(log_probs[t]), length + 1, t == stop)
                           for t in range(len(log_probs))]
        beams = sorted(candidates, key=lambda beam: -beam[1] / beam[2])[:beam_size]
    beams = sorted(beams, key=lambda beam: -beam[1] / beam[2])
    return [(tokens[:length], total / length) for tokens, total, length, _ in beams]


@torch.no_grad()
def test_batched_beam_search_matches_a_one_by_one_search_on_a_random_gpt2():
    model, tokenizer, _ = tiny_model(seed=3)
    stop = tokenizer.get_vocab()["."]
    prefixes = model.project(torch.from_numpy(np.random.default_rng(1).normal(size=(3, 16)).astype(np.float32)))
    batched = beam_search(model.gpt, prefixes, stop, beam_size=3, max_tokens=4)
    for row, found in enumerate(batched):
        expected = one_by_one_beam_search(model.gpt, prefixes[row:row + 1], stop, beam_size=3, max_tokens=4)
        assert [tokens for tokens, _ in found] == [tokens for tokens, _ in expected]
        np.testing.assert_allclose([s for _, s in found], [s for _, s in expected], atol=1e-5)


# --- evaluation table ---------------------------------------------------------------------------


def test_word_recall_table_counts_hits_mentions_and_chance():
    generated = pd.DataFrame({"stim_id": ["1", "2", "3", "4"],
                              "caption": ["a horse.", "two horses and a cat.", "a cup of coffee.", "a box."]})
    objects = pd.DataFrame({"stim_id": ["1", "2", "2", "3", "4"], "category": ["horse", "cat", "horse", "cat", "box"]})
    table = word_recall_table(generated, objects, {"horse": ["horse"], "cat": ["cat"], "box": ["box"]})
    rows = table.set_index("category")
    assert rows.loc["horse", ["n_images", "n_mentions", "n_hits", "recall", "precision"]].tolist() == [2, 2, 2, 1, 1]
    assert rows.loc["cat", ["n_images", "n_mentions", "n_hits", "recall", "precision"]].tolist() == [2, 1, 1, .5, 1]
    assert rows.loc["cat", "chance"] == 0.5 and rows.loc["cat", "chance_recall"] == 0.25
    everything = rows.loc["all"]
    assert everything[["n_images", "n_mentions", "n_hits"]].tolist() == [5, 4, 4]
    assert everything["recall"] == pytest.approx(0.8) and everything["precision"] == 1.0
    # blind precision: mention-weighted base rates; blind recall: image-weighted mention rates
    assert everything["chance"] == pytest.approx((2 * 0.5 + 1 * 0.5 + 1 * 0.25) / 4)
    assert everything["chance_recall"] == pytest.approx((2 * 0.5 + 2 * 0.25 + 1 * 0.25) / 5)


# --- training on the demo world -----------------------------------------------------------------


def planted_features(world, seed, noise=0.2):
    """What a CLIP image embedding holds, planted: one-hot objects and background, plus noise."""
    objects, truth = pd.read_parquet(world["objects"]), world["truth"]
    categories = sorted(set(objects["category"]))
    backgrounds = sorted({image["background"] for image in truth["images"]})
    stim_ids = sorted(f"{image['id']:012d}" for image in truth["images"])
    row = {stim_id: number for number, stim_id in enumerate(stim_ids)}
    values = np.zeros((len(stim_ids), 16), dtype=np.float32)
    for stim_id, category in zip(objects["stim_id"], objects["category"]):
        values[row[stim_id], categories.index(category)] = 1.0
    for image in truth["images"]:
        values[row[f"{image['id']:012d}"], len(categories) + backgrounds.index(image["background"])] = 1.0
    values += np.random.default_rng(seed).normal(0, noise, values.shape).astype(np.float32)
    return values, stim_ids


def write_features(folder, values, stim_ids):
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "coco.npy", values)
    (folder / "coco.ids.txt").write_text("".join(f"{stim_id}\n" for stim_id in stim_ids))
    return folder / "coco.npy", folder / "coco.ids.txt"


def make_world(root, seed):
    """A demo world of 200 train and 100 test images, loaded as COCO, with planted features."""
    truth = generate_world(root / "coco", WorldConfig(n_train=200, n_test=100, seed=seed))
    load_coco(root=root / "coco", stimuli=root / "stimuli", captions=root / "captions.parquet",
              objects=root / "objects.parquet", settings={"splits": {"train": "train2017", "test": "val2017"}})
    world = {"truth": truth, "captions": root / "captions.parquet", "objects": root / "objects.parquet"}
    world["features"], world["feature_ids"] = write_features(root / "features", *planted_features(world, seed))
    return world


@pytest.fixture(scope="module")
def world_of(tmp_path_factory):
    made = {}

    def get(seed):
        if seed not in made:
            made[seed] = make_world(tmp_path_factory.mktemp(f"world{seed}"), seed)
        return made[seed]

    return get


@pytest.fixture(scope="module")
def world(world_of):
    return world_of(0)


def train(world, out, **training):
    return train_clipcap(features=world["features"], feature_ids=world["feature_ids"], captions=world["captions"],
                         captioner=out, settings={"training": {**TINY_TRAINING, **training}}, seed=0)


def null_z(table, category, n_test):
    """How far a row's hits lie above those of a captioner blind to the image. Blind, a word's
    hits are hypergeometric (its n_mentions captions drawn from n_test images, n_images of them
    holding the object); the row "all" sums the words' hits (variances add)."""
    rows = table.set_index("category").drop("all")
    rows = rows if category == "all" else rows.loc[[category]]
    images, said = rows["n_images"].astype(float), rows["n_mentions"].astype(float)
    mean = (said * images / n_test).sum()
    variance = (said * images / n_test * (1 - images / n_test) * (n_test - said) / (n_test - 1)).sum()
    return (rows["n_hits"].sum() - mean) / np.sqrt(max(variance, 1e-12))


def test_world_captions_end_with_the_stop_token(world):
    assert pd.read_parquet(world["captions"])["caption"].str.endswith(".").all()


@pytest.mark.parametrize("seed", [0, 1])
def test_trained_captioner_names_the_planted_objects_of_held_out_images(world_of, seed, tmp_path, caplog):
    world = world_of(seed)
    caplog.set_level(logging.INFO, logger=clipcap.__name__)
    train(world, tmp_path / "captioner")
    assert sorted(p.name for p in (tmp_path / "captioner").iterdir()) == ["clipcap.json", "clipcap.pt", "gpt2"]
    assert not (tmp_path / "captioner.resume").exists()
    assert sum("ClipCap epoch" in message and "mean loss" in message for message in caplog.messages) == 10
    table = evaluate_captioner(captioner=tmp_path / "captioner", features=world["features"],
                               feature_ids=world["feature_ids"], objects=world["objects"],
                               captions=world["captions"], table=tmp_path / "recall.csv",
                               generated=tmp_path / "captions.parquet", settings={})
    generated = pd.read_parquet(tmp_path / "captions.parquet")
    assert list(generated.columns) == ["stim_id", "caption"] and len(generated) == 100
    assert generated["caption"].str.endswith(".").mean() > 0.9
    rows = table.set_index("category")
    assert pd.read_csv(tmp_path / "recall.csv")["category"].tolist()[-1] == "all"
    assert set(rows.index) == {"face", "text", "cat", "horse", "rocket", "motorcycle", "coffee", "ball", "box", "all"}
    # Blind, the pooled hits over ~145 (image, object) pairs would be ~20 +- 4; ask for 8 sd more
    # and for most objects named.
    assert null_z(table, "all", 100) > 8 and rows.loc["all", "recall"] > 0.5
    assert rows.loc["all", "precision"] > rows.loc["all", "chance"] + 0.4
    # each object alone (~10-20 images): clearly above a blind captioner too
    for category in rows.index.drop("all"):
        assert null_z(table, category, 100) > 3, rows.loc[category].to_dict()


def test_rerun_gives_byte_identical_weights_and_leaves_the_rng_alone(world, tmp_path):
    state = torch.get_rng_state()
    train(world, tmp_path / "a", epochs=2)
    assert torch.equal(torch.get_rng_state(), state)
    train(world, tmp_path / "b", epochs=2)
    assert (tmp_path / "a" / "clipcap.pt").read_bytes() == (tmp_path / "b" / "clipcap.pt").read_bytes()
    info = json.loads((tmp_path / "a" / "clipcap.json").read_text())
    assert info["prefix_length"] == 10 and info["prefix_size"] == 16 and info["training"]["epochs"] == 2
    assert set(info["inputs"]) == {"features", "feature_ids", "captions"} and "neurogaze_version" in info
    loaded = load_clipcap(tmp_path / "a" / "clipcap.pt", tmp_path / "a" / "gpt2", 10, prefix_size=16)
    embeddings = np.load(world["features"])[:4]
    assert loaded.caption(embeddings) == load_captioner(tmp_path / "b").caption(embeddings)
    # evaluation takes a folder, or a released-style weights file with its GPT-2 folder
    inputs = {"features": world["features"], "feature_ids": world["feature_ids"], "objects": world["objects"],
              "captions": world["captions"], "settings": {"decoding": {"beam_size": 2}}}
    evaluate_captioner(captioner=tmp_path / "a", table=tmp_path / "folder.csv", generated=tmp_path / "folder.parquet",
                       **inputs)
    evaluate_captioner(captioner=tmp_path / "a" / "clipcap.pt", gpt2=tmp_path / "a" / "gpt2",
                       table=tmp_path / "file.csv", generated=tmp_path / "file.parquet", **inputs)
    assert (tmp_path / "folder.csv").read_bytes() == (tmp_path / "file.csv").read_bytes()
    assert pd.read_parquet(tmp_path / "folder.parquet").equals(pd.read_parquet(tmp_path / "file.parquet"))
    with pytest.raises(ConfigError, match="clipcap.gpt2"):
        evaluate_captioner(captioner=tmp_path / "a" / "clipcap.pt", table=tmp_path / "x.csv",
                           generated=tmp_path / "x.parquet", **inputs)


def test_resume_after_an_interrupted_epoch_gives_the_same_bytes(world, tmp_path, monkeypatch, caplog):
    train(world, tmp_path / "whole", epochs=3)
    real = clipcap._epoch_batches

    def killed_in_epoch_two(tokens, mask, image_index, prefixes, config, epoch):
        for number, batch in enumerate(real(tokens, mask, image_index, prefixes, config, epoch)):
            if epoch == 1 and number == 3:
                raise RuntimeError("killed")
            yield batch

    monkeypatch.setattr(clipcap, "_epoch_batches", killed_in_epoch_two)
    with pytest.raises(RuntimeError, match="killed"):
        train(world, tmp_path / "resumed", epochs=3)
    assert not (tmp_path / "resumed").exists()
    assert sorted(p.name for p in (tmp_path / "resumed.resume").iterdir()) == ["epoch-0001.pt", "key.json"]
    monkeypatch.setattr(clipcap, "_epoch_batches", real)
    caplog.set_level(logging.INFO, logger=clipcap.__name__)
    train(world, tmp_path / "resumed", epochs=3)
    assert any("resumed from" in message for message in caplog.messages)
    assert (tmp_path / "resumed" / "clipcap.pt").read_bytes() == (tmp_path / "whole" / "clipcap.pt").read_bytes()
    assert not (tmp_path / "resumed.resume").exists()


def test_changed_inputs_discard_the_partial_run(world, tmp_path, caplog):
    train_clipcap(features=world["features"], feature_ids=world["feature_ids"], captions=world["captions"],
                  captioner=tmp_path / "c", settings={"training": {**TINY_TRAINING, "epochs": 2}}, seed=0,
                  stop_after_epoch=1)
    assert (tmp_path / "c.resume" / "epoch-0001.pt").is_file() and not (tmp_path / "c").exists()
    values, stim_ids = planted_features(world, seed=9)
    features, ids = write_features(tmp_path / "other", values, stim_ids)
    caplog.set_level(logging.INFO)
    train_clipcap(features=features, feature_ids=ids, captions=world["captions"], captioner=tmp_path / "c",
                  settings={"training": {**TINY_TRAINING, "epochs": 2}}, seed=0, stop_after_epoch=1)
    assert any("discarding the partial results" in message for message in caplog.messages)
    assert not any("resumed from" in message for message in caplog.messages)


# --- bad inputs ---------------------------------------------------------------------------------


def caption_table(tmp_path, captions, stim_ids, caption_ids=None):
    table = pd.DataFrame({"stim_id": stim_ids, "caption_id": caption_ids or list(range(1, len(stim_ids) + 1)),
                          "caption": captions, "split": ["train"] * len(stim_ids)})
    table.to_parquet(tmp_path / "captions.parquet", index=False)
    return tmp_path / "captions.parquet"


def test_empty_caption_and_unknown_image_are_named(tmp_path):
    features, ids = write_features(tmp_path / "f", np.ones((2, 4), np.float32), ["000000000001", "000000000002"])
    empty = caption_table(tmp_path, ["a cat.", "  "], ["000000000001", "000000000002"], [11, 12])
    with pytest.raises(DataValidationError, match=r"captions\.parquet.*caption_id 12.*non-empty"):
        train_clipcap(features=features, feature_ids=ids, captions=empty, captioner=tmp_path / "c", settings={},
                      seed=0)
    unknown = caption_table(tmp_path, ["a cat.", "a dog."], ["000000000001", "000000000007"])
    with pytest.raises(DataValidationError, match=r"captions\.parquet.*stim_id.*coco\.ids\.txt.*000000000007"):
        train_clipcap(features=features, feature_ids=ids, captions=unknown, captioner=tmp_path / "c", settings={},
                      seed=0)
    assert not (tmp_path / "c").exists() and not (tmp_path / "c.resume").exists()


def test_training_defaults_are_the_paper_s_and_unknown_keys_are_named():
    config = ClipCapTrainingConfig()
    assert (config.prefix_length, config.lr, config.warmup_steps, config.batch_size, config.epochs) == (
        10, 2e-5, 5000, 40, 10)
    assert (config.normalize_prefix, config.weight_decay, config.eps) == (False, 0.0, 1e-6)
    assert (config.architecture.n_embd, config.architecture.n_layer, config.architecture.n_positions) == (
        768, 12, 1024)
    demo = from_section(ClipCapTrainingConfig, TINY_TRAINING, "clipcap.training", seed=1)
    assert demo.architecture == TINY_GPT and demo.seed == 1
    with pytest.raises(ConfigError, match="clipcap.training.lrr"):
        from_section(ClipCapTrainingConfig, {"lrr": 1}, "clipcap.training")
    with pytest.raises(ConfigError, match="n_head"):
        from_section(ClipCapTrainingConfig, {"architecture": {"n_embd": 10, "n_head": 4}}, "clipcap.training")
