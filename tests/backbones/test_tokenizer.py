"""The offline CLIP tokenizer: written from open_clip's BPE file, it must tokenise as open_clip does."""

import gzip

import numpy as np
import pytest

from neurogaze.backbones.tokenizer import (
    VOCAB_SIZE,
    load_clip_tokenizer,
    read_bpe_merges,
    write_clip_tokenizer,
)
from neurogaze.errors import DataValidationError


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    return write_clip_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer")


def test_token_ids_match_open_clip(tokenizer_dir):
    import open_clip

    tokenizer = load_clip_tokenizer(tokenizer_dir)
    assert len(tokenizer) == VOCAB_SIZE
    texts = ["a photo of a face", "Indoor scene: kitchen, 2 chairs!", "", "ÜnïcödÉ words and emojis 🙂"]
    reference = open_clip.tokenize(texts).numpy()
    ours = tokenizer(texts, padding="max_length", max_length=77, truncation=True, return_tensors="np").input_ids
    for ref, mine in zip(reference, ours):
        n = int((ref != 0).sum())  # open_clip pads with 0, SD's tokenizer with the end token
        np.testing.assert_array_equal(mine[:n], ref[:n])
    assert tokenizer.bos_token_id == 49406 and tokenizer.eos_token_id == 49407


def test_missing_vocab_file_is_named(tmp_path):
    with pytest.raises(DataValidationError, match="vocab.json"):
        load_clip_tokenizer(tmp_path)


def test_corrupt_bpe_file_is_rejected(tmp_path):
    bad = tmp_path / "bpe.txt.gz"
    bad.write_bytes(gzip.compress(b"#version\na b\nonly-one-symbol\n"))
    with pytest.raises(DataValidationError, match="merges"):
        read_bpe_merges(bad)
    not_gzip = tmp_path / "plain.txt.gz"
    not_gzip.write_text("not gzip")
    with pytest.raises(DataValidationError, match="gzipped"):
        write_clip_tokenizer(tmp_path / "out", not_gzip)
    assert not (tmp_path / "out").exists()
