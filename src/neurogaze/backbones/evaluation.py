"""What a backbone has learned of a captioned world: held-out retrieval and zero-shot probes.

On the test split of a captioned image set (the demo world, or COCO):

- image -> text and text -> image top-1 retrieval among all test images and captions. The demo
  world's grammar repeats captions across images ("a red ball on grass."), so a retrieved caption
  (image) counts as correct when its text is one of the query image's captions (when the image
  holds the query caption); chance is the mean share of correct candidates.
- zero-shot accuracy on each planted attribute (from the world's ``ground_truth.json``), over the
  test images with one object: its noun, category, colour (balls and boxes), size and position,
  and the background. The candidate prompts are the grammar's phrases for each value, the other
  attributes as they are in the image; chance is one over the number of values.
- caption -> caption retrieval (two captions of one image): what the text tower alone has learned.
- 1-nearest-neighbour noun accuracy of the image embeddings (train -> test, one-object images):
  what the image tower alone has learned, for models without a matching text tower (SimCLR).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from neurogaze.backbones import build_backbone
from neurogaze.data.contracts import read_stimulus_set
from neurogaze.data.synthetic.world import BACKGROUND_PHRASES, COLOURS, OBJECTS, PHRASES, SIZES, noun_phrase
from neurogaze.errors import DataValidationError
from neurogaze.io import write_csv

COLUMNS = ("backbone", "probe", "attribute", "accuracy", "chance", "n")


def evaluate_backbone(*, weights, spec: dict, stimuli, world, table, backbone: str,
                      batch_size: int = 256) -> pd.DataFrame:
    """Rule ``evaluate_backbone``: retrieval, zero-shot and nearest-neighbour accuracy of backbone
    ``backbone`` on the test split of ``stimuli`` (read from the demo ``world`` folder, whose
    ``ground_truth.json`` holds the planted attributes) -> ``table`` (csv, one row per probe)."""
    ground_truth = Path(world) / "ground_truth.json"
    model = build_backbone({**spec, "weights": str(weights)}, device="cpu")
    stimulus_set = read_stimulus_set(stimuli)
    truth = _read_truth(ground_truth)
    index = stimulus_set.index
    test_ids = [str(stim_id) for stim_id in index.loc[index["split"] == "test", "stim_id"]]
    train_ids = [str(stim_id) for stim_id in index.loc[index["split"] == "train", "stim_id"]]
    missing = [stim_id for stim_id in test_ids + train_ids if stim_id not in truth]
    if missing:
        raise DataValidationError(ground_truth, "images", "every stimulus of the set", f"no entry for {missing[0]}")
    embed = _Embedder(model, stimulus_set, batch_size)
    test_images = embed.images(test_ids)
    rows = [*_retrieval(embed, test_ids, test_images, truth),
            *_zero_shot(embed, test_ids, test_images, truth),
            _nearest_neighbour(embed, train_ids, test_ids, test_images, truth)]
    frame = pd.DataFrame(rows, columns=COLUMNS[1:])
    frame.insert(0, "backbone", backbone)
    write_csv(table, frame)
    return frame


def _read_truth(path) -> dict[str, dict]:
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataValidationError(path, "file", "the world's ground_truth.json", exc) from exc
    if "images" not in payload:
        raise DataValidationError(path, "images", "a list of the world's images", "missing")
    return {f"{int(image['id']):012d}": image for image in payload["images"]}


class _Embedder:
    def __init__(self, backbone, stimulus_set, batch_size: int):
        self.backbone, self.stimulus_set, self.batch_size = backbone, stimulus_set, batch_size

    def images(self, stim_ids: list[str]) -> np.ndarray:
        parts = [self.backbone.encode_images([self.stimulus_set.load_image(stim_id) for stim_id in
                                              stim_ids[start:start + self.batch_size]])
                 for start in range(0, len(stim_ids), self.batch_size)]
        return _unit(np.concatenate(parts))

    def texts(self, texts: list[str]) -> np.ndarray:
        parts = [self.backbone.encode_texts(texts[start:start + self.batch_size])
                 for start in range(0, len(texts), self.batch_size)]
        return _unit(np.concatenate(parts))


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def _retrieval(embed: _Embedder, test_ids, test_images, truth) -> list[tuple]:
    texts = sorted({caption for stim_id in test_ids for caption in truth[stim_id]["captions"]})
    holds = np.array([[text in truth[stim_id]["captions"] for text in texts] for stim_id in test_ids])
    similarity = test_images @ embed.texts(texts).T  # images x distinct captions
    image_to_text = holds[np.arange(len(test_ids)), similarity.argmax(axis=1)]
    text_to_image = holds[similarity.argmax(axis=0), np.arange(len(texts))]
    return [("retrieval", "image_to_text", float(image_to_text.mean()), float(holds.mean(axis=1).mean()),
             len(test_ids)),
            ("retrieval", "text_to_image", float(text_to_image.mean()), float(holds.mean(axis=0).mean()),
             len(texts)),
            _caption_to_caption(embed, test_ids, truth)]


def _caption_to_caption(embed: _Embedder, test_ids, truth) -> tuple:
    """Each image's first caption retrieves among the second captions of all images: what a text
    tower alone has learned (a caption-caption model has no image tower to be asked)."""
    ids = [stim_id for stim_id in test_ids if len(truth[stim_id]["captions"]) >= 2]
    first = embed.texts([truth[stim_id]["captions"][0] for stim_id in ids])
    second_texts = [truth[stim_id]["captions"][1] for stim_id in ids]
    # a candidate is correct when it is a caption of the query's image (the grammar repeats captions)
    holds = np.array([[text in truth[stim_id]["captions"] for text in second_texts] for stim_id in ids])
    best = (first @ embed.texts(second_texts).T).argmax(axis=1)
    return ("retrieval", "caption_to_caption", float(holds[np.arange(len(ids)), best].mean()),
            float(holds.mean(axis=1).mean()), len(ids))


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _phrase(noun: str) -> str:
    return PHRASES.get(noun, noun)


# attribute -> (its values, the grammar's prompt for a value given the object and the place phrase)
ATTRIBUTES = {
    "noun": (list(OBJECTS), lambda obj, place, noun: f"{_article(_phrase(noun))} {_phrase(noun)} on {place}."),
    "category": (sorted({category for category, _ in OBJECTS.values()}),
                 lambda obj, place, category: f"{_article(category)} {category} on {place}."),
    "background": (list(BACKGROUND_PHRASES),
                   lambda obj, place, background: f"{noun_phrase(obj)} on {BACKGROUND_PHRASES[background]}."),
    "position": (["left", "right"], lambda obj, place, position: f"{noun_phrase(obj)} on the {position}."),
    "colour": (list(COLOURS), lambda obj, place, colour: f"{_article(colour)} {colour} {_phrase(obj['noun'])} on "
                                                         f"{place}."),
    "size": (list(SIZES), lambda obj, place, size: f"{_article(size)} {size} {_phrase(obj['noun'])} on {place}."),
}
# colour is said of balls and boxes, size of everything else
APPLIES = {"colour": lambda obj: obj["colour"] is not None, "size": lambda obj: obj["colour"] is None}


def _zero_shot(embed: _Embedder, test_ids, test_images, truth) -> list[tuple]:
    single = [number for number, stim_id in enumerate(test_ids) if len(truth[stim_id]["objects"]) == 1]
    rows = []
    for attribute, (values, prompt) in ATTRIBUTES.items():
        applies = APPLIES.get(attribute, lambda obj: True)
        numbers = [n for n in single if applies(truth[test_ids[n]]["objects"][0])]
        if not numbers:
            continue
        prompts = [[prompt(truth[test_ids[n]]["objects"][0], BACKGROUND_PHRASES[truth[test_ids[n]]["background"]],
                           value) for value in values] for n in numbers]
        distinct = sorted({text for texts in prompts for text in texts})  # embedded once each
        embedded = dict(zip(distinct, embed.texts(distinct)))
        correct = []
        for number, texts in zip(numbers, prompts):
            image = truth[test_ids[number]]
            scores = np.stack([embedded[text] for text in texts]) @ test_images[number]
            actual = image["background"] if attribute == "background" else image["objects"][0][attribute]
            correct.append(values[int(scores.argmax())] == actual)
        rows.append(("zero_shot", attribute, float(np.mean(correct)), 1 / len(values), len(numbers)))
    return rows


def _nearest_neighbour(embed: _Embedder, train_ids, test_ids, test_images, truth) -> tuple:
    def single(ids):
        return [stim_id for stim_id in ids if len(truth[stim_id]["objects"]) == 1]

    train, test = single(train_ids), single(test_ids)
    test_rows = [test_ids.index(stim_id) for stim_id in test]
    nearest = (test_images[test_rows] @ embed.images(train).T).argmax(axis=1)
    predicted = [truth[train[n]]["objects"][0]["noun"] for n in nearest]
    actual = [truth[stim_id]["objects"][0]["noun"] for stim_id in test]
    nouns = pd.Series([truth[stim_id]["objects"][0]["noun"] for stim_id in train])
    chance = float((nouns.value_counts(normalize=True) ** 2).sum())  # a neighbour drawn at random
    return ("nearest_neighbour", "noun", float(np.mean(np.array(predicted) == np.array(actual))), chance, len(test))
