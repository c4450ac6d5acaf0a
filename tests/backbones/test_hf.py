"""transformers folders and timm state dicts as backbones (the SEEG paper's SBERT, SimCSE, FLAVA,
BEiT, ConvNeXt and their random versions): tiny models saved in the released layouts embed texts
and images as the models' own forward passes compute them; wrong files are named errors."""

import shutil

import numpy as np
import pytest
import timm
import torch
import transformers
from PIL import Image

from neurogaze.backbones import build_backbone
from neurogaze.backbones.tokenizer import write_clip_tokenizer
from neurogaze.errors import ConfigError, DataValidationError, MissingWeightsError

pytestmark = pytest.mark.usefixtures("one_thread")

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "face", "on", "grass", "red", "ball", "cup", "."]
TEXTS = ["a face on grass .", "a red ball .", "a cup on a red ball on grass ."]


def _images(n=3):
    return [np.random.default_rng(k).integers(0, 256, (40, 48, 3), dtype=np.uint8) for k in range(n)]


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory):
    """A snapshot as the hub holds SBERT / SimCSE: config.json, weights, a WordPiece tokenizer."""
    folder = tmp_path_factory.mktemp("bert")
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    transformers.BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    config = transformers.BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def vit_folder(tmp_path_factory):
    """An image-only snapshot (as BEiT's): config.json, weights, preprocessor_config.json."""
    folder = tmp_path_factory.mktemp("vit")
    config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1,
                                    num_attention_heads=2, intermediate_size=32)
    torch.manual_seed(0)
    transformers.ViTModel(config).save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def two_tower_folder(tmp_path_factory):
    """A two-tower snapshot (CLIP's layout; FLAVA's is read the same way, through get_*_features)."""
    folder = tmp_path_factory.mktemp("clip")
    tokenizer = write_clip_tokenizer(folder / "tokenizer")
    for path in tokenizer.iterdir():
        shutil.copy(path, folder / path.name)
    config = transformers.CLIPConfig(
        text_config={"vocab_size": 49408, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "max_position_embeddings": 16},
        vision_config={"image_size": 32, "patch_size": 8, "hidden_size": 16, "intermediate_size": 32,
                       "num_hidden_layers": 1, "num_attention_heads": 2},
        projection_dim=8)
    torch.manual_seed(0)
    transformers.CLIPModel(config).save_pretrained(folder)
    transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        folder)
    return folder


def _spec(folder, **options):
    return {"name": "hf", "kind": "transformers", "model": "org/tiny", "weights": str(folder), **options}


def test_text_poolings_are_the_models_own(bert_folder):
    tokenizer = transformers.BertTokenizer.from_pretrained(bert_folder)
    model = transformers.BertModel.from_pretrained(bert_folder).eval()
    tokens = tokenizer(TEXTS, padding="max_length", max_length=12, return_tensors="pt")
    with torch.no_grad():
        outputs = model(**tokens)
    mask = tokens["attention_mask"][..., None].float()
    expected = {
        "mean": (outputs.last_hidden_state * mask).sum(1) / mask.sum(1),  # SBERT: padding does not count
        "cls": outputs.last_hidden_state[:, 0],
        "pooler": outputs.pooler_output,
    }
    for pooling, values in expected.items():
        backbone = build_backbone(_spec(bert_folder, pooling=pooling, max_length=12))
        np.testing.assert_allclose(backbone.encode_texts(TEXTS), values.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="image tower"):
        build_backbone(_spec(bert_folder)).encode_images(_images())


def test_image_model_uses_its_processor(vit_folder):
    processor = transformers.ViTImageProcessor.from_pretrained(vit_folder)
    model = transformers.ViTModel.from_pretrained(vit_folder).eval()
    pixels = processor(images=[Image.fromarray(image) for image in _images()], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        expected = model(pixel_values=pixels).pooler_output
    backbone = build_backbone(_spec(vit_folder, pooling="pooler"))
    np.testing.assert_allclose(backbone.encode_images(_images()), expected.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="text tower"):
        backbone.encode_texts(TEXTS)


def test_two_tower_features(two_tower_folder):
    backbone = build_backbone(_spec(two_tower_folder, pooling="features", max_length=16))
    model = transformers.CLIPModel.from_pretrained(two_tower_folder).eval()
    tokens = backbone.tokenizer(TEXTS, padding="max_length", max_length=16, return_tensors="pt")
    with torch.no_grad():
        expected = model.get_text_features(**tokens)
    expected = expected if isinstance(expected, torch.Tensor) else expected.pooler_output
    np.testing.assert_allclose(backbone.encode_texts(TEXTS), expected.numpy(), rtol=1e-5, atol=1e-6)
    assert backbone.encode_images(_images()).shape == (3, 8)


def test_random_version_keeps_the_architecture_not_the_weights(bert_folder):
    trained = build_backbone(_spec(bert_folder, max_length=12)).encode_texts(TEXTS)
    state = torch.random.get_rng_state()
    random_spec = _spec(bert_folder, max_length=12, random=True, seed=3)
    random = build_backbone(random_spec).encode_texts(TEXTS)
    assert torch.equal(torch.random.get_rng_state(), state)
    np.testing.assert_array_equal(build_backbone(random_spec).encode_texts(TEXTS), random)
    assert random.shape == trained.shape and not np.allclose(random, trained, atol=1e-3)


def test_timm_checkpoint_loads_without_its_classifier(tmp_path):
    torch.manual_seed(0)
    released = timm.create_model("convnext_atto", num_classes=10).eval()  # a file with its head
    torch.save(released.state_dict(), tmp_path / "convnext.pth")
    backbone = build_backbone({"name": "convnext", "kind": "timm", "model": "convnext_atto",
                               "weights": str(tmp_path / "convnext.pth")})
    pixels = torch.stack([backbone.image_processor(Image.fromarray(image)) for image in _images()])
    with torch.no_grad():
        expected = released.forward_head(released.forward_features(pixels), pre_logits=True)
    np.testing.assert_allclose(backbone.encode_images(_images()), expected.numpy(), rtol=1e-4, atol=1e-5)
    random = build_backbone({"name": "convnext-random", "kind": "timm", "model": "convnext_atto",
                             "weights": str(tmp_path / "convnext.pth"), "random": True, "seed": 1})
    assert not np.allclose(random.encode_images(_images()), expected.numpy(), atol=1e-3)


def test_wrong_files_are_named(tmp_path, bert_folder):
    torch.save(timm.create_model("convnext_femto", num_classes=0).state_dict(), tmp_path / "femto.pth")
    with pytest.raises(DataValidationError, match="convnext_atto.*shapes differ"):
        build_backbone({"name": "c", "kind": "timm", "model": "convnext_atto", "weights": str(tmp_path / "femto.pth")})
    with pytest.raises(MissingWeightsError, match="nothing is downloaded"):
        build_backbone({"name": "c", "kind": "timm", "model": "convnext_atto", "weights": str(tmp_path / "x.pth")})
    with pytest.raises(DataValidationError, match="config.json"):
        build_backbone(_spec(tmp_path))
    with pytest.raises(ConfigError, match="pooling"):
        build_backbone(_spec(bert_folder, pooling="max"))
    with pytest.raises(ConfigError, match="architecture"):
        build_backbone({"name": "c", "kind": "timm", "model": "no_such_net", "weights": str(tmp_path / "femto.pth")})


def test_flava_snapshot_embeds_both_towers(tmp_path):
    """FLAVA's layout (FlavaModel, a WordPiece tokenizer, FlavaImageProcessor): one embedding per text
    and per image, in its shared projection space."""
    (tmp_path / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    transformers.BertTokenizer(str(tmp_path / "vocab.txt")).save_pretrained(tmp_path)
    small = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}
    config = transformers.FlavaConfig(
        image_config={"image_size": 32, "patch_size": 8, **small},
        text_config={"vocab_size": len(WORDS), "max_position_embeddings": 32, **small},
        multimodal_config=small, hidden_size=16, projection_dim=8)
    torch.manual_seed(0)
    transformers.FlavaModel(config).save_pretrained(tmp_path)
    transformers.FlavaImageProcessor(size={"height": 32, "width": 32},
                                     crop_size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    backbone = build_backbone(_spec(tmp_path, model="facebook/flava-full", pooling="features", max_length=12))
    texts, images = backbone.encode_texts(TEXTS), backbone.encode_images(_images())
    assert texts.shape == (3, 8) and images.shape == (3, 8)
    assert np.all(np.ptp(texts, axis=0) > 0) and np.all(np.ptp(images, axis=0) > 0)


def _blip_folder(folder, model_class=transformers.BlipModel):
    """BLIP's layout for transformers' BlipModel: config.json (model_type blip), the weights, a
    WordPiece tokenizer and BlipImageProcessor."""
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    transformers.BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    small = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}
    config = transformers.BlipConfig(text_config={"vocab_size": len(WORDS), "max_position_embeddings": 32,
                                                  "bos_token_id": 2, "sep_token_id": 3, "pad_token_id": 0, **small},
                                     vision_config={"image_size": 32, "patch_size": 8, **small}, projection_dim=8)
    torch.manual_seed(0)
    model = model_class(config)
    with torch.no_grad():  # BLIP initialises its vision tower with std 1e-10: give it trained-like spread
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.1)
    model.save_pretrained(folder)
    transformers.BlipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def test_blip_snapshot_embeds_both_towers_and_its_random_version_differs(tmp_path):
    folder = _blip_folder(tmp_path)
    backbone = build_backbone(_spec(folder, model="Salesforce/blip-base", pooling="features", max_length=12))
    texts, images = backbone.encode_texts(TEXTS), backbone.encode_images(_images())
    assert texts.shape == (3, 8) and images.shape == (3, 8)
    assert np.all(np.ptp(texts, axis=0) > 0) and np.all(np.ptp(images, axis=0) > 0)
    # the embedding is BlipModel's own: its text tower's pooled output, projected
    model = transformers.BlipModel.from_pretrained(folder).eval()
    tokens = transformers.AutoTokenizer.from_pretrained(folder)(TEXTS, padding="max_length", max_length=12,
                                                                return_tensors="pt")
    with torch.no_grad():
        pooled = model.text_model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]).pooler_output
        np.testing.assert_allclose(texts, model.text_projection(pooled).numpy(), atol=1e-5)
    random = build_backbone(_spec(folder, model="Salesforce/blip-base", pooling="features", max_length=12,
                                  random=True, seed=3))
    assert not np.allclose(random.encode_texts(TEXTS), texts)


def test_a_folder_whose_weights_do_not_fill_the_model_is_named(tmp_path):
    """The hub's BLIP retrieval checkpoints name their text tower text_encoder: loaded as BlipModel,
    its text tower would stay random."""
    folder = _blip_folder(tmp_path, transformers.BlipForImageTextRetrieval)
    with pytest.raises(DataValidationError, match="text_model"):
        build_backbone(_spec(folder, model="Salesforce/blip-itm-base-coco", pooling="features"))


def test_random_blip_reinitialised_as_the_reference_does_varies_and_is_seeded(tmp_path):
    """transformers draws BLIP's vision tower at std 1e-10, so its native random version sees every
    image alike; the reference's LAVIS re-initialisation (random_init: lavis) does not."""
    folder = _blip_folder(tmp_path)
    options = {"model": "Salesforce/blip-base", "pooling": "features", "max_length": 12, "random": True, "seed": 3}
    native = build_backbone(_spec(folder, **options)).encode_images(_images())
    assert np.ptp(native, axis=0).max() < 1e-4 * np.abs(native).max()  # the problem: constant features
    lavis = build_backbone(_spec(folder, random_init="lavis", **options))
    images, texts = lavis.encode_images(_images()), lavis.encode_texts(TEXTS)
    assert np.ptp(images, axis=0).max() > 1e-2 * np.abs(images).max()
    assert np.ptp(texts, axis=0).max() > 1e-2 * np.abs(texts).max()
    again = build_backbone(_spec(folder, random_init="lavis", **options))
    np.testing.assert_array_equal(again.encode_images(_images()), images)
    other = build_backbone(_spec(folder, random_init="lavis", **{**options, "seed": 4}))
    assert not np.allclose(other.encode_images(_images()), images, atol=1e-3 * np.abs(images).max())
    linear = lavis.model.vision_model.encoder.layers[0].mlp.fc1
    assert 5.0 < linear.weight.std() < 7.0 and torch.all(linear.bias == 0)
    with pytest.raises(ConfigError, match="random_init"):
        build_backbone(_spec(folder, random_init="xavier", **options))
