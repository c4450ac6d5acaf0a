"""Words of the projected embeddings: nouns per ROI, the voxel-caption table, person captions.

Nouns come from a part-of-speech tagger when one is configured (``tagger: "spacy:<model>"``, a
spaCy pipeline installed on the machine; tokens tagged NOUN / PROPN, lemmatised). Offline, where
no tagger model can be fetched, the documented fallback is a noun lexicon: a caption's nouns are
its words (the captioner's tokenisation: lower case, punctuation split off, a plural -s / -es
folded onto a listed singular) that the lexicon lists. The demo lists the demo world's nouns.
"""

from __future__ import annotations

import importlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurogaze.backbones.clipcap import caption_words, mentions
from neurogaze.errors import ConfigError

# Words that name a person in a caption (the paper's person-share map); a config may replace them.
PERSON_WORDS = ("person", "people", "man", "men", "woman", "women", "boy", "boys", "girl", "girls", "child",
                "children", "kid", "kids", "player", "players", "lady", "guy", "baby", "face", "faces")


@dataclass(frozen=True)
class NounConfig:
    """``brainscuba.nouns``: a tagger (``"spacy:<model>"``) or the lexicon fallback (a list of nouns)."""

    tagger: str | None = None
    lexicon: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.tagger is None and not self.lexicon:
            raise ValueError("give a tagger ('spacy:<model>') or a noun lexicon (no tagger model is available offline)")
        if self.tagger is not None and not self.tagger.startswith("spacy:"):
            raise ValueError(f"tagger must be 'spacy:<model name>', got {self.tagger!r}")


class LexiconNouns:
    """The offline fallback: listed nouns among a caption's words (plurals folded to the singular)."""

    def __init__(self, lexicon):
        self.lexicon = {str(word).lower() for word in lexicon}

    def _singular(self, word: str) -> str | None:
        for candidate in (word, word[:-1] if word.endswith("s") else None, word[:-2] if word.endswith("es") else None):
            if candidate and candidate in self.lexicon:
                return candidate
        return None

    def __call__(self, caption: str) -> list[str]:
        return [noun for noun in map(self._singular, caption_words(caption)) if noun]


class SpacyNouns:
    """Lemmas of the tokens a spaCy pipeline tags NOUN or PROPN."""

    def __init__(self, model: str):
        try:
            spacy = importlib.import_module("spacy")
            self.nlp = spacy.load(model)
        except (ImportError, OSError) as exc:
            raise ConfigError(None, "brainscuba.nouns.tagger", f"an installed spaCy model {model!r} ({exc}); offline, "
                              "set tagger: null and give a noun lexicon") from exc

    def __call__(self, caption: str) -> list[str]:
        return [token.lemma_.lower() for token in self.nlp(caption) if token.pos_ in ("NOUN", "PROPN")]


def noun_extractor(config: NounConfig):
    if config.tagger is not None:
        return SpacyNouns(config.tagger.removeprefix("spacy:"))
    return LexiconNouns(config.lexicon)


def voxel_caption_table(units: np.ndarray, captions: list[str], nouns: list[list[str]], rois: dict[str, np.ndarray],
                        person_words) -> pd.DataFrame:
    """One row per captioned voxel: unit (column of the responses), caption, nouns ('|'-joined),
    whether the caption names a person, and one boolean column per ROI (``roi_<name>``)."""
    table = pd.DataFrame({"unit": np.asarray(units, dtype=np.int64), "caption": pd.Series(captions, dtype="string"),
                          "nouns": pd.Series(["|".join(found) for found in nouns], dtype="string"),
                          "person": [mentions(text, list(person_words)) for text in captions]})
    for name in sorted(rois):
        table[f"roi_{name}"] = np.asarray(rois[name], dtype=bool)[table["unit"].to_numpy()]
    return table


def noun_frequencies(table: pd.DataFrame, rois: list[str]) -> pd.DataFrame:
    """Per ROI: each noun's count over its voxels' captions and its frequency (count / voxels)."""
    rows = []
    for roi in rois:
        inside = table[table[f"roi_{roi}"]]
        counts = Counter(noun for joined in inside["nouns"] for noun in set(filter(None, joined.split("|"))))
        for noun, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            rows.append({"roi": roi, "noun": noun, "count": count, "n_voxels": len(inside),
                         "frequency": count / len(inside)})
    return pd.DataFrame(rows, columns=["roi", "noun", "count", "n_voxels", "frequency"])


def concept_rates(table: pd.DataFrame, concepts: dict[str, list[str]]) -> pd.DataFrame:
    """For each ROI with concept words: the share of its voxels' captions naming one of them
    (``rate_in``) and the share among the captioned voxels outside it (``rate_out``), their ratio,
    and the binomial standard errors of both rates."""
    rows = []
    for roi, words in sorted(concepts.items()):
        column = f"roi_{roi}"
        if column not in table:
            continue
        said = np.array([mentions(text, list(words)) for text in table["caption"]])
        inside = table[column].to_numpy()
        n_in, n_out = int(inside.sum()), int((~inside).sum())
        rate_in = float(said[inside].mean()) if n_in else np.nan
        rate_out = float(said[~inside].mean()) if n_out else np.nan
        rows.append({"roi": roi, "words": "|".join(words), "n_in": n_in, "n_out": n_out, "rate_in": rate_in,
                     "rate_out": rate_out, "se_in": np.sqrt(rate_in * (1 - rate_in) / max(n_in, 1)),
                     "se_out": np.sqrt(rate_out * (1 - rate_out) / max(n_out, 1)),
                     "ratio": rate_in / rate_out if rate_out > 0 else np.inf})
    return pd.DataFrame(rows, columns=["roi", "words", "n_in", "n_out", "rate_in", "rate_out", "se_in", "se_out",
                                       "ratio"])


def person_share(table: pd.DataFrame, rois: list[str]) -> pd.DataFrame:
    """Per ROI (and ``all`` captioned voxels): the share of captions that name a person."""
    rows = [{"roi": "all", "n_voxels": len(table), "person_share": float(table["person"].mean())}]
    for roi in rois:
        inside = table[table[f"roi_{roi}"]]
        rows.append({"roi": roi, "n_voxels": len(inside),
                     "person_share": float(inside["person"].mean()) if len(inside) else np.nan})
    return pd.DataFrame(rows)


__all__ = ["LexiconNouns", "NounConfig", "PERSON_WORDS", "SpacyNouns", "concept_rates", "noun_extractor",
           "noun_frequencies", "person_share", "voxel_caption_table"]
