"""An offline CLIP tokenizer: the real BPE vocabulary, written from the file open_clip ships.

Stable Diffusion pipelines need a ``CLIPTokenizer`` folder (``vocab.json`` + ``merges.txt``). No
hub download is possible, but open_clip's wheel carries ``bpe_simple_vocab_16e6.txt.gz``, the
same byte-level BPE that OpenAI's CLIP (and so SD's tokenizer) uses. Its 49,408 entries are laid
out exactly as open_clip builds them, so the token ids agree with ``open_clip.tokenize``.

In transformers 5 ``CLIPTokenizer(vocab_file=..., merges_file=...)`` silently ignores the files;
``CLIPTokenizer.from_pretrained(folder)`` is the path that reads them, so a folder is what we write.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

from neurogaze.errors import DataValidationError
from neurogaze.io import atomic_directory

# open_clip keeps the first 49152 - 256 - 2 merges of the file (after its version header line).
N_MERGES = 49152 - 256 - 2
VOCAB_SIZE = 49408
BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
MODEL_MAX_LENGTH = 77


def open_clip_bpe_path() -> Path:
    from open_clip.tokenizer import default_bpe

    return Path(default_bpe())


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table (the alphabet of the BPE)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars)))


def read_bpe_merges(bpe_path: str | os.PathLike) -> list[tuple[str, str]]:
    """The merge rules open_clip uses, read from its gzipped BPE file."""
    bpe_path = Path(bpe_path)
    try:
        with gzip.open(bpe_path) as handle:
            lines = handle.read().decode("utf-8").split("\n")
    except (OSError, EOFError) as exc:
        raise DataValidationError(bpe_path, "file", "a gzipped CLIP BPE merges file", exc) from exc
    merges = [tuple(line.split()) for line in lines[1 : N_MERGES + 1]]
    bad = next((i for i, merge in enumerate(merges) if len(merge) != 2), None)
    if len(merges) != N_MERGES or bad is not None:
        got = f"{len(merges)} merges" if bad is None else f"line {bad + 2}: {lines[bad + 1]!r}"
        raise DataValidationError(bpe_path, "merges", f"{N_MERGES} lines of two space-separated symbols", got)
    return merges


def clip_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    """Token -> id, in open_clip's order: bytes, bytes + '</w>', merges, then the two specials."""
    alphabet = list(bytes_to_unicode().values())
    tokens = alphabet + [symbol + "</w>" for symbol in alphabet] + ["".join(merge) for merge in merges]
    tokens += [BOS_TOKEN, EOS_TOKEN]
    return {token: index for index, token in enumerate(tokens)}


def write_clip_tokenizer(out_dir: str | os.PathLike, bpe_path: str | os.PathLike | None = None) -> Path:
    """Write a ``CLIPTokenizer`` folder (vocab.json, merges.txt, tokenizer_config.json) atomically."""
    merges = read_bpe_merges(bpe_path or open_clip_bpe_path())
    vocab = clip_vocab(merges)
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as temp:
        (temp / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
        merge_lines = "".join(f"{a} {b}\n" for a, b in merges)
        (temp / "merges.txt").write_text("#version: 0.2\n" + merge_lines, encoding="utf-8")
        config = {
            "tokenizer_class": "CLIPTokenizer",
            "model_max_length": MODEL_MAX_LENGTH,
            "bos_token": BOS_TOKEN,
            "eos_token": EOS_TOKEN,
            "unk_token": EOS_TOKEN,
            "pad_token": EOS_TOKEN,
            "do_lower_case": True,
        }
        (temp / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
        special = {"bos_token": BOS_TOKEN, "eos_token": EOS_TOKEN, "unk_token": EOS_TOKEN, "pad_token": EOS_TOKEN}
        (temp / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    return out_dir


def load_clip_tokenizer(folder: str | os.PathLike):
    """Load a tokenizer folder written by :func:`write_clip_tokenizer` (or any released one)."""
    from transformers import CLIPTokenizer

    folder = Path(folder)
    for name in ("vocab.json", "merges.txt"):
        if not (folder / name).is_file():
            raise DataValidationError(folder / name, name, "a CLIP tokenizer file", "missing")
    return CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
