"""ALBEF from a checkpoint in the release's layout (a tiny one: ViT and BERT shrunk): its features
are the source modules' own forward passes, its layers hook by module name, a file that does not
fit is a named error, and the random version is seeded and re-initialised as the reference does."""

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import transformers
from PIL import Image
from timm.models.vision_transformer import VisionTransformer

from neurogaze.backbones import build_backbone
from neurogaze.backbones.albef import albef_transform
from neurogaze.brain.seeg import stages
from neurogaze.brain.seeg.features import embed_pairs, layer_key, read_embeddings
from neurogaze.errors import DataValidationError, MissingWeightsError

pytestmark = pytest.mark.usefixtures("one_thread")

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "face", "on", "grass", "red", "ball", "cup", "."]
TEXTS = ["a face on grass .", "a red ball .", "a cup on a red ball on grass ."]
SIZES = {"image_size": 32, "patch_size": 8, "vision_width": 16, "vision_layers": 2, "vision_heads": 2,
         "text_layers": 2, "text_width": 16, "text_heads": 2, "text_intermediate": 32, "vocab_size": len(WORDS),
         "max_position_embeddings": 40, "embed_dim": 8}


def _images(n=3):
    return [np.random.default_rng(k).integers(0, 256, (40, 48, 3), dtype=np.uint8) for k in range(n)]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A checkpoint as ALBEF's Pretrain.py saves it ({'model': state_dict}, with the fusion layers,
    the MLM head, the momentum copies, queues, ITM head and temperature), the source modules, and
    a BERT tokenizer folder."""
    folder = tmp_path_factory.mktemp("albef")
    torch.manual_seed(0)
    vit = VisionTransformer(img_size=32, patch_size=8, embed_dim=16, depth=2, num_heads=2, num_classes=0).eval()
    # BERT with text + fusion layers: ALBEF's text_encoder (BertForMaskedLM); the fusion layers'
    # cross-attention is absent here, as it is not read
    config = transformers.BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=40)
    bert = transformers.BertForMaskedLM(config).eval()
    for parameter in bert.parameters():  # away from transformers' zero biases and unit norms
        parameter.data.add_(0.05 * torch.randn_like(parameter))
    vision_proj, text_proj = torch.nn.Linear(16, 8), torch.nn.Linear(16, 8)
    state = {f"visual_encoder.{k}": v for k, v in vit.state_dict().items()}
    state.update({f"text_encoder.{k}": v for k, v in bert.state_dict().items()})
    state["text_encoder.bert.embeddings.position_ids"] = torch.arange(40)[None]  # saved by ALBEF's xbert
    state.update({f"vision_proj.{k}": v for k, v in vision_proj.state_dict().items()})
    state.update({f"text_proj.{k}": v for k, v in text_proj.state_dict().items()})
    state.update({f"visual_encoder_m.{k}": v + 1 for k, v in vit.state_dict().items()})
    state.update({"vision_proj_m.weight": vision_proj.weight + 1, "itm_head.weight": torch.zeros(2, 16),
                  "image_queue": torch.randn(8, 4), "queue_ptr": torch.zeros(1, dtype=torch.long),
                  "temp": torch.tensor(0.07)})
    torch.save({"model": state, "config": {"embed_dim": 8}}, folder / "ALBEF.pth")
    (folder / "bert").mkdir()
    (folder / "bert" / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    transformers.BertTokenizer(str(folder / "bert" / "vocab.txt")).save_pretrained(folder / "bert")
    return folder, vit, bert, vision_proj, text_proj


def _spec(folder, **options):
    return {"name": "albef", "kind": "albef", "weights": str(folder / "ALBEF.pth"), "tokenizer": str(folder / "bert"),
            "albef": SIZES, **options}


def _truncated_bert(bert, layers=2):
    """The source BERT's first ``layers`` layers: ALBEF's text mode."""
    encoder = transformers.BertModel(bert.config, add_pooling_layer=False).eval()
    encoder.load_state_dict(bert.bert.state_dict())
    encoder.encoder.layer = encoder.encoder.layer[:layers]
    return encoder


def test_features_are_the_released_modules_forward(release):
    folder, vit, bert, vision_proj, text_proj = release
    backbone = build_backbone(_spec(folder))
    pixels = torch.stack([albef_transform(32)(Image.fromarray(image)) for image in _images()])
    tokens = transformers.BertTokenizer.from_pretrained(folder / "bert")(TEXTS, padding="max_length", max_length=30,
                                                                        return_tensors="pt")
    with torch.no_grad():
        image = F.normalize(vision_proj(vit.forward_features(pixels)[:, 0]), dim=-1)
        hidden = _truncated_bert(bert)(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
        text = F.normalize(text_proj(hidden.last_hidden_state[:, 0]), dim=-1)
    np.testing.assert_allclose(backbone.encode_images(_images()), image.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(backbone.encode_texts(TEXTS), text.numpy(), rtol=1e-5, atol=1e-6)
    # only the text layers before fusion are read: a checkpoint's fusion layers change nothing
    assert len(backbone.model.text_encoder.encoder.layer) == 2


def test_layers_hook_by_module_name(release, tmp_path):
    folder = release[0]
    for k, image in enumerate(_images(4)):
        Image.fromarray(image).save(tmp_path / f"f{k}.png")
    pairs = pd.DataFrame({"frame": [f"f{k % 4}.png" for k in range(6)], "sentence": [TEXTS[k % 3] for k in range(6)]})
    layers = {"block1": {"image": "visual_encoder.blocks.0", "text": "text_encoder.encoder.layer.0"}}
    embedded = embed_pairs(pairs, tmp_path, _spec(folder), ("image", "text"), layers=layers)
    assert embedded[layer_key("block1", "image")].shape == (4, 17 * 16)  # 16 patches + CLS, width 16
    assert embedded[layer_key("block1", "text")].shape == (3, 30 * 16)  # 30 tokens (max_length)
    assert embedded["image"].shape == (4, 8) and embedded["text"].shape == (3, 8)


def test_a_checkpoint_that_does_not_fit_is_named(release, tmp_path):
    folder = release[0]
    state = torch.load(folder / "ALBEF.pth", weights_only=True)["model"]
    torch.save({"model": {k: v for k, v in state.items() if not k.startswith("text_proj.")}}, tmp_path / "a.pth")
    with pytest.raises(DataValidationError, match=r"state_dict.*missing \['text_proj"):
        build_backbone(_spec(folder, weights=str(tmp_path / "a.pth")))
    with pytest.raises(DataValidationError, match="shapes differ"):
        build_backbone(_spec(folder, albef={**SIZES, "image_size": 48}))
    with pytest.raises(MissingWeightsError, match="nothing is downloaded"):
        build_backbone(_spec(folder, weights=str(tmp_path / "missing.pth")))
    with pytest.raises(DataValidationError, match="vocab.txt"):
        build_backbone(_spec(folder, tokenizer=str(tmp_path)))


def test_random_version_is_seeded_and_reinitialised(release):
    folder = release[0]
    trained = build_backbone(_spec(folder))
    state = torch.random.get_rng_state()
    random = build_backbone(_spec(folder, weights=None, random=True, seed=3))
    assert torch.equal(torch.random.get_rng_state(), state)
    again = build_backbone(_spec(folder, weights=None, random=True, seed=3))
    other = build_backbone(_spec(folder, weights=None, random=True, seed=4))
    images = random.encode_images(_images())
    np.testing.assert_array_equal(again.encode_images(_images()), images)
    np.testing.assert_array_equal(again.encode_texts(TEXTS), random.encode_texts(TEXTS))
    assert not np.allclose(other.encode_images(_images()), images, atol=1e-3)
    assert not np.allclose(images, trained.encode_images(_images()), atol=1e-3)
    # the reference's re-initialisation: Linear weights N(0, 6), LayerNorms 1 and 0
    assert 5.0 < random.model.text_encoder.encoder.layer[0].intermediate.dense.weight.std() < 7.0
    assert torch.all(random.model.visual_encoder.norm.weight == 1)
    # features vary across images and texts
    assert np.ptp(images, axis=0).max() > 1e-2 and np.ptp(random.encode_texts(TEXTS), axis=0).max() > 1e-2


def test_the_feature_rule_reads_the_tokenizer_it_is_given_as_input(release, tmp_path):
    """The rule's tokenizer input (a list of one folder, as Snakemake passes it) reaches the loader."""
    folder = release[0]
    (tmp_path / "stimuli").mkdir()
    for k, image in enumerate(_images(2)):
        Image.fromarray(image).save(tmp_path / "stimuli" / f"f{k}.png")
    pairs = pd.DataFrame({"subject": "01", "alignment": "language", "frame": ["f0.png", "f1.png", "f0.png"],
                          "sentence": TEXTS})
    pairs.to_parquet(tmp_path / "pairs.parquet")
    spec = {key: value for key, value in _spec(folder).items() if key != "tokenizer"}
    stages.features(pairs=tmp_path / "pairs.parquet", root=tmp_path, weights=folder / "ALBEF.pth",
                    features=tmp_path / "albef.npz", backbone="albef", spec=spec, inputs=["image", "text"],
                    tokenizer=[str(folder / "bert")])
    embedded = read_embeddings(tmp_path / "albef.npz")
    np.testing.assert_allclose(embedded["text"], build_backbone(_spec(folder)).encode_texts(sorted(TEXTS)), atol=1e-6)
