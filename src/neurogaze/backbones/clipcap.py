"""ClipCap (Mokady et al. 2021), the captioner BrainSCUBA turns voxel embeddings into words with.

An MLP maps a CLIP image embedding to ``prefix_length`` GPT-2 input embeddings; GPT-2 continues
that prefix with a caption, found by beam search. The parts follow the reference implementation
(rmokady/CLIP_prefix_caption) closely enough that its released weights load unchanged:

- :class:`ClipCaptionModel` holds ``gpt`` (transformers' ``GPT2LMHeadModel``) and ``clip_project``
  (``MLP.model`` = Linear, Tanh, Linear with sizes ``(prefix_size, n_embd*prefix_length//2,
  n_embd*prefix_length)``; a single Linear when ``prefix_length > 10``, as the reference's
  ``predict.py`` builds it), so its state-dict keys are those of ``coco_weights.pt``;
- :func:`generate_beam` is the reference's beam search: beams ranked by their summed log-prob
  divided by their length, stopped at the stop token ``.``;
- :func:`train_clipcap` is the reference's training loop (AdamW, linear warm-up and decay, the
  whole model trained, cross-entropy of the caption tokens after the prefix), with the paper's
  settings as the defaults of :class:`ClipCapTrainingConfig`.

Released and demo captioners share one load path, :func:`load_clipcap`: a state-dict file plus a
GPT-2 folder (``config.json`` and the tokenizer files, what a hub snapshot of ``gpt2`` holds).
The released one is ``coco_weights.pt`` with the ``gpt2`` snapshot; the demo one is trained here,
on the demo world, with a tiny seeded GPT-2 and a word-level tokenizer, and saved as
``<out>/clipcap.pt`` + ``<out>/gpt2/`` + ``<out>/clipcap.json``. Nothing is ever downloaded;
a missing file raises ``MissingWeightsError`` saying what to fetch.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
from torch import nn
from transformers import (
    AutoTokenizer,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
    get_linear_schedule_with_warmup,
)

from neurogaze import __version__
from neurogaze.config import from_section
from neurogaze.errors import ConfigError, DataValidationError, MissingWeightsError
from neurogaze.io import atomic_directory, atomic_path, fingerprint, resume_folder, write_csv, write_json, write_parquet
from neurogaze.runlog import derive_seed, resolve_device

logger = logging.getLogger(__name__)

FORMAT = "neurogaze-clipcap-1"
WEIGHTS_FILE = "clipcap.pt"
GPT2_FOLDER = "gpt2"
INFO_FILE = "clipcap.json"

# The released COCO model: CLIP ViT-B/32 embeddings (raw encode_image output, 512 wide) -> 10
# prefix tokens of GPT-2 124M.
RELEASED_PREFIX_LENGTH = 10
RELEASED_PREFIX_SIZE = 512
# The reference's predict.py maps with one Linear above this prefix length, with the MLP up to it.
MLP_MAX_PREFIX_LENGTH = 10

# The demo tokenizer's special tokens. GPT-2 ends (and begins) a text with <|endoftext|>.
PAD_TOKEN = "<|pad|>"
EOS_TOKEN = "<|endoftext|>"
UNK_TOKEN = "<|unk|>"

# transformers ~4.10 saved each attention layer's causal mask and masking constant with the
# weights; current versions no longer keep them, so those keys (and only those) are dropped.
STALE_BUFFER_KEY = re.compile(r"gpt\.transformer\.h\.\d+\.attn\.(bias|masked_bias)")

RELEASED_WEIGHTS_SOURCE = ("the ClipCap COCO model coco_weights.pt (MLP mapper, prefix length 10), from the Google "
                           "Drive link in the README of github.com/rmokady/CLIP_prefix_caption")
GPT2_SOURCE = ("the 'gpt2' model of the Hugging Face hub (its config.json and tokenizer files; e.g. "
               "`huggingface-cli download gpt2 --local-dir <folder>`)")

IGNORE_INDEX = -100


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipCapArchitecture:
    """The size of GPT-2. The defaults are GPT-2 124M, the model ClipCap fine-tunes; the demo
    trains a tiny one from a seeded initialisation instead (its vocabulary is its tokenizer's)."""

    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    dropout: float = 0.1  # GPT-2's residual, embedding and attention dropout

    def __post_init__(self):
        for name in ("n_positions", "n_embd", "n_layer", "n_head"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class ClipCapTrainingConfig:
    """ClipCap's training (the reference's train.py for the COCO MLP model). The defaults are the
    paper's; the demo shrinks sizes and steps (a tiny GPT-2, warm-up scaled to its step count, a
    larger lr), never the algorithm. AdamW's weight decay and eps are those of transformers'
    AdamW, which the reference used (torch's defaults differ)."""

    prefix_length: int = RELEASED_PREFIX_LENGTH
    lr: float = 2e-5
    warmup_steps: int = 5000
    batch_size: int = 40
    epochs: int = 10
    weight_decay: float = 0.0
    eps: float = 1e-6
    normalize_prefix: bool = False  # the COCO model was trained on raw embeddings
    stop_token: str = "."
    append_stop_token: bool = False  # end every training caption with stop_token (the reference does not)
    architecture: ClipCapArchitecture = field(default_factory=ClipCapArchitecture)
    seed: int = 0

    def __post_init__(self):
        for name in ("prefix_length", "batch_size", "epochs"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.warmup_steps < 0 or self.lr <= 0:
            raise ValueError("warmup_steps must be >= 0 and lr > 0")
        if self.prefix_length >= self.architecture.n_positions:
            raise ValueError(f"prefix_length ({self.prefix_length}) leaves no room for a caption in "
                             f"n_positions={self.architecture.n_positions}")


@dataclass(frozen=True)
class ClipCapDecodingConfig:
    """Beam search as the reference's generate_beam runs it (``max_tokens`` is its entry_length)."""

    beam_size: int = 5
    max_tokens: int = 67
    temperature: float = 1.0
    stop_token: str = "."
    batch_size: int = 32  # images searched together (their beams run as one GPT-2 batch)

    def __post_init__(self):
        for name in ("beam_size", "max_tokens", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


@dataclass(frozen=True)
class CaptionEvaluationConfig:
    """Which caption words stand for each object category: by default the category's own name
    (the demo world's object names are its caption nouns: 'coffee' of 'a cup of coffee', 'text'
    of 'a page of text'); real COCO may list synonyms (person: [person, man, woman, people])."""

    words: dict[str, list[str]] | None = None


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


class MLP(nn.Module):
    """Linear layers with an activation between them (none after the last), as ``self.model``:
    the reference's layout, hence its state-dict keys ``model.0``, ``model.2``."""

    def __init__(self, sizes: tuple[int, ...], act: type[nn.Module] = nn.Tanh):
        super().__init__()
        layers: list[nn.Module] = []
        for number in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[number], sizes[number + 1]))
            if number < len(sizes) - 2:
                layers.append(act())
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def mapper_sizes(prefix_size: int, n_embd: int, prefix_length: int) -> tuple[int, int, int]:
    """The MLP's widths: the embedding, half the prefix's total width, the prefix's total width."""
    return prefix_size, n_embd * prefix_length // 2, n_embd * prefix_length


class ClipCaptionModel(nn.Module):
    """The reference's ClipCaptionModel: ``gpt`` (GPT2LMHeadModel of ``gpt_config``) and
    ``clip_project`` (embedding -> ``prefix_length`` GPT-2 input embeddings)."""

    def __init__(self, gpt_config: GPT2Config, prefix_length: int = RELEASED_PREFIX_LENGTH,
                 prefix_size: int = RELEASED_PREFIX_SIZE):
        super().__init__()
        self.prefix_length = int(prefix_length)
        self.prefix_size = int(prefix_size)
        self.gpt = GPT2LMHeadModel(gpt_config)
        self.gpt_embedding_size = int(gpt_config.n_embd)
        if self.prefix_length > MLP_MAX_PREFIX_LENGTH:
            self.clip_project = nn.Linear(self.prefix_size, self.gpt_embedding_size * self.prefix_length)
        else:
            self.clip_project = MLP(mapper_sizes(self.prefix_size, self.gpt_embedding_size, self.prefix_length))

    def project(self, prefix: torch.Tensor) -> torch.Tensor:
        """(B, prefix_size) embeddings -> (B, prefix_length, n_embd) GPT-2 input embeddings."""
        return self.clip_project(prefix).view(-1, self.prefix_length, self.gpt_embedding_size)

    def forward(self, tokens: torch.Tensor, prefix: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """GPT-2's logits over (prefix, caption tokens); ``mask`` (B, prefix_length + T) hides padding."""
        embeddings = torch.cat((self.project(prefix), self.gpt.transformer.wte(tokens)), dim=1)
        return self.gpt(inputs_embeds=embeddings, attention_mask=mask).logits

    def loss(self, tokens: torch.Tensor, prefix: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The reference's loss: the logits from the last prefix position on predict the caption
        tokens; padding (mask 0) is ignored. (The reference ignores token id 0, its padding value,
        which in GPT-2 is also '!'; the mask ignores exactly the padding.)"""
        logits = self(tokens, prefix, mask)[:, self.prefix_length - 1:-1]
        targets = tokens.masked_fill(mask[:, self.prefix_length:] == 0, IGNORE_INDEX)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX)


# ---------------------------------------------------------------------------------------------
# Beam search
# ---------------------------------------------------------------------------------------------


def stop_token_id(tokenizer, stop_token: str = ".") -> int:
    """The single token id of ``stop_token`` (GPT-2's '.' is 13)."""
    ids = tokenizer.encode(stop_token, add_special_tokens=False)
    if len(ids) != 1:
        raise ConfigError(None, "stop_token", f"{stop_token!r} must be one token of the captioner's tokenizer, "
                          f"got ids {ids}")
    return int(ids[0])


def _position_limit(gpt, prefix_length: int, max_tokens: int) -> int:
    """At most ``max_tokens``, and no more than GPT-2's positions leave after the prefix."""
    n_positions = getattr(getattr(gpt, "config", None), "n_positions", None)
    if n_positions is None:
        return max_tokens
    room = int(n_positions) - prefix_length
    if room < 1:
        raise ValueError(f"a prefix of {prefix_length} tokens fills GPT-2's {n_positions} positions")
    return min(max_tokens, room)


@torch.no_grad()
def beam_search(gpt, prefix_embeddings: torch.Tensor, stop_id: int, beam_size: int = 5, max_tokens: int = 67,
                temperature: float = 1.0) -> list[list[tuple[list[int], float]]]:
    """Beam search from each prefix of ``prefix_embeddings`` (B, prefix_length, n_embd).

    The reference's algorithm, for B prefixes at once: the first step keeps the ``beam_size`` most
    likely tokens; each later step ranks every (beam, token) continuation by the beam's summed
    log-prob plus the token's, divided by the beam's length, and keeps the best ``beam_size``. A
    beam that emitted ``stop_id`` is stopped: it continues only with token 0 at log-prob 0 and its
    length no longer grows, so it keeps its score. The search ends when every beam has stopped or
    after ``max_tokens`` tokens. Returns per prefix its beams as (token ids up to and including the
    stop token, summed log-prob / length), best first.
    """
    batch, prefix_length, width = prefix_embeddings.shape
    max_tokens = _position_limit(gpt, prefix_length, max_tokens)
    wte = gpt.get_input_embeddings() if hasattr(gpt, "get_input_embeddings") else gpt.transformer.wte
    scale = temperature if temperature > 0 else 1.0
    device = prefix_embeddings.device

    def next_log_probs(embeddings: torch.Tensor) -> torch.Tensor:
        logits = gpt(inputs_embeds=embeddings).logits[:, -1, :].float() / scale
        return torch.log_softmax(logits, dim=-1)

    log_probs = next_log_probs(prefix_embeddings)  # (B, V)
    vocab = log_probs.shape[-1]
    beams = min(beam_size, vocab)
    scores, tokens = log_probs.topk(beams, dim=-1)  # (B, K)
    lengths = torch.ones(batch, beams, device=device)
    stopped = tokens == stop_id
    sequences = tokens.unsqueeze(-1)  # (B, K, T)
    generated = prefix_embeddings.unsqueeze(1).expand(batch, beams, prefix_length, width)
    generated = torch.cat((generated, wte(tokens).unsqueeze(2)), dim=2)  # (B, K, L, E)
    rows = torch.arange(batch, device=device).unsqueeze(1)
    for _ in range(1, max_tokens):
        if bool(stopped.all()):
            break
        length = generated.shape[2]
        log_probs = next_log_probs(generated.reshape(batch * beams, length, width)).view(batch, beams, vocab)
        log_probs = log_probs.masked_fill(stopped.unsqueeze(-1), -float("inf"))
        log_probs[..., 0] = torch.where(stopped, torch.zeros_like(log_probs[..., 0]), log_probs[..., 0])
        totals = scores.unsqueeze(-1) + log_probs  # (B, K, V)
        lengths = lengths + (~stopped).float()
        averages = totals / lengths.unsqueeze(-1)
        best, flat = averages.view(batch, beams * vocab).topk(beams, dim=-1)
        source, tokens = flat // vocab, flat % vocab
        lengths = lengths[rows, source]
        stopped = stopped[rows, source]
        sequences = torch.cat((sequences[rows, source], tokens.unsqueeze(-1)), dim=-1)
        generated = torch.cat((generated[rows, source], wte(tokens).unsqueeze(2)), dim=2)
        scores = best * lengths
        stopped = stopped | (tokens == stop_id)
    final = (scores / lengths).cpu()
    lengths, sequences = lengths.long().cpu(), sequences.cpu()
    found = []
    for row in range(batch):
        order = torch.sort(final[row], descending=True, stable=True).indices.tolist()
        found.append([(sequences[row, k, : lengths[row, k]].tolist(), float(final[row, k])) for k in order])
    return found


def generate_beam(model: ClipCaptionModel, tokenizer, prefix_embedding: torch.Tensor, beam_size: int = 5,
                  max_tokens: int = 67, stop_token: str = ".", temperature: float = 1.0) -> str:
    """The top beam's caption for one projected prefix (``model.project`` of an embedding:
    (prefix_length, n_embd) or (1, prefix_length, n_embd)), as the reference's generate_beam
    returns it: decoded up to and including the stop token."""
    if prefix_embedding.dim() == 2:
        prefix_embedding = prefix_embedding.unsqueeze(0)
    if prefix_embedding.dim() != 3 or prefix_embedding.shape[0] != 1:
        raise ValueError(f"one prefix of shape (prefix_length, n_embd) expected, got {tuple(prefix_embedding.shape)}")
    was_training = model.training
    model.eval()
    try:
        (beams,) = beam_search(model.gpt, prefix_embedding, stop_token_id(tokenizer, stop_token), beam_size,
                               max_tokens, temperature)
    finally:
        model.train(was_training)
    return tokenizer.decode(beams[0][0]).strip()


# ---------------------------------------------------------------------------------------------
# Loading: one path for the released and the demo captioner
# ---------------------------------------------------------------------------------------------


@dataclass
class ClipCapCaptioner:
    """A loaded ClipCap (in eval mode) and its tokenizer: embeddings in, captions out."""

    model: ClipCaptionModel
    tokenizer: object
    device: torch.device
    normalize_prefix: bool = False
    weights_file: Path | None = None

    @property
    def prefix_length(self) -> int:
        return self.model.prefix_length

    @property
    def prefix_size(self) -> int:
        return self.model.prefix_size

    @torch.no_grad()
    def caption(self, embeddings: np.ndarray, beam_size: int = 5, max_tokens: int = 67, stop_token: str = ".",
                temperature: float = 1.0, batch_size: int = 32) -> list[str]:
        """The top beam's caption of each row of ``embeddings`` (N, prefix_size): raw CLIP image
        embeddings for the COCO model (it was trained on them unnormalised), or what a
        captioner was trained on. Deterministic; ``batch_size`` rows are searched at a time."""
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.prefix_size:
            raise DataValidationError(None, "embeddings", f"an (n, {self.prefix_size}) array (the captioner's "
                                      "prefix_size)", embeddings.shape)
        if not np.isfinite(embeddings).all():
            raise DataValidationError(None, "embeddings", "finite values", "NaN or inf")
        stop_id = stop_token_id(self.tokenizer, stop_token)
        self.model.eval()
        captions: list[str] = []
        for start in range(0, len(embeddings), batch_size):
            prefix = torch.from_numpy(embeddings[start:start + batch_size]).to(self.device)
            if self.normalize_prefix:
                prefix = prefix / prefix.norm(p=2, dim=-1, keepdim=True)
            beams = beam_search(self.model.gpt, self.model.project(prefix), stop_id, beam_size, max_tokens,
                                temperature)
            captions += [self.tokenizer.decode(found[0][0]).strip() for found in beams]
        return captions


def read_gpt2_config(folder: str | os.PathLike) -> GPT2Config:
    """GPT-2's architecture from a local folder's config.json."""
    folder = Path(folder)
    config_file = folder / "config.json"
    if not config_file.is_file():
        what = "folder" if not folder.is_dir() else "config.json"
        raise MissingWeightsError(f"ClipCap: the GPT-2 {what} {config_file if folder.is_dir() else folder} does not "
                                  f"exist; download {GPT2_SOURCE} (nothing is downloaded automatically)")
    try:
        values = json.loads(config_file.read_text())
    except json.JSONDecodeError as exc:
        raise DataValidationError(config_file, "file", "a GPT-2 config.json", exc) from exc
    if values.get("model_type") != "gpt2":
        raise DataValidationError(config_file, "model_type", "'gpt2'", values.get("model_type"))
    return GPT2Config.from_pretrained(str(folder), local_files_only=True)


def load_tokenizer(folder: str | os.PathLike):
    """The tokenizer of a local GPT-2 folder, loaded as the real GPT-2's is (AutoTokenizer).

    The folder must hold tokenizer.json or GPT-2's vocab.json + merges.txt: without them
    transformers 5 quietly builds an empty tokenizer from config.json alone."""
    folder = Path(folder)
    has_files = (folder / "tokenizer.json").is_file() or all((folder / name).is_file()
                                                              for name in ("vocab.json", "merges.txt"))
    if not has_files:
        raise MissingWeightsError(f"ClipCap: no tokenizer in {folder} (tokenizer.json, or vocab.json and merges.txt); "
                                  f"download {GPT2_SOURCE} (nothing is downloaded automatically)")
    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise MissingWeightsError(f"ClipCap: no tokenizer in {folder} ({exc}); download {GPT2_SOURCE} "
                                  "(nothing is downloaded automatically)") from exc


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A ClipCaptionModel state dict from ``path``, without the stale attention buffers that
    transformers ~4.10 saved (``gpt.transformer.h.{i}.attn.bias`` / ``.attn.masked_bias``)."""
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"ClipCap: weight file {path} does not exist; download {RELEASED_WEIGHTS_SOURCE} "
                                  "(nothing is downloaded automatically), or train the demo captioner")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a checkpoint
        raise DataValidationError(path, "file", "a ClipCap state dict (torch.save of ClipCaptionModel.state_dict())",
                                  f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataValidationError(path, "file", "a state dict (key -> tensor)", type(state).__name__)
    return {key: value for key, value in state.items() if not STALE_BUFFER_KEY.fullmatch(key)}


def check_state_dict(state: Mapping[str, torch.Tensor], model: ClipCaptionModel, path, built_from: str) -> None:
    """Raise DataValidationError naming the first key that a strict load would reject."""
    expected = model.state_dict()
    for key, tensor in expected.items():
        if key not in state:
            raise DataValidationError(path, key, f"a tensor of shape {tuple(tensor.shape)} ({built_from})", "missing")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise DataValidationError(path, key, f"shape {tuple(tensor.shape)} ({built_from})",
                                      f"shape {tuple(state[key].shape)}")
    unexpected = [key for key in state if key not in expected]
    if unexpected:
        raise DataValidationError(path, unexpected[0], f"only the keys of {built_from}",
                                  f"{len(unexpected)} unexpected key(s)")


def load_clipcap(weights_file: str | os.PathLike, gpt2_folder: str | os.PathLike,
                 prefix_length: int = RELEASED_PREFIX_LENGTH, device: str | torch.device = "cpu", *,
                 prefix_size: int = RELEASED_PREFIX_SIZE, normalize_prefix: bool = False) -> ClipCapCaptioner:
    """A ClipCap from a state-dict file and a GPT-2 folder (config.json + tokenizer files).

    The released COCO model is ``load_clipcap("coco_weights.pt", "<gpt2 snapshot>")``; a demo
    captioner folder loads the same way (:func:`load_captioner` reads its clipcap.json). The load
    is strict once the stale attention buffers are dropped: a checkpoint of another architecture
    (prefix size, GPT-2 width, depth) raises DataValidationError naming the file and the key.
    """
    device = resolve_device(str(device)) if isinstance(device, str) else device
    gpt_config = read_gpt2_config(gpt2_folder)
    tokenizer = load_tokenizer(gpt2_folder)
    state = read_state_dict(weights_file)
    with torch.random.fork_rng(devices=[]):  # the throw-away initialisation leaves the caller's RNG alone
        model = ClipCaptionModel(gpt_config, prefix_length, prefix_size)
    built_from = (f"ClipCaptionModel(prefix_length={prefix_length}, prefix_size={prefix_size}) with the GPT-2 of "
                  f"{Path(gpt2_folder) / 'config.json'}")
    check_state_dict(state, model, weights_file, built_from)
    if len(tokenizer) > gpt_config.vocab_size:
        raise DataValidationError(Path(gpt2_folder), "tokenizer", f"at most vocab_size={gpt_config.vocab_size} "
                                  "tokens (config.json)", len(tokenizer))
    model.load_state_dict(state, strict=True)
    model.to(device).eval()
    return ClipCapCaptioner(model, tokenizer, device, bool(normalize_prefix), Path(weights_file))


def read_captioner_info(folder: str | os.PathLike) -> dict:
    """clipcap.json of a captioner folder (what load_clipcap needs besides the two files)."""
    info_file = Path(folder) / INFO_FILE
    if not info_file.is_file():
        raise DataValidationError(info_file, "file", f"a ClipCap captioner folder ({WEIGHTS_FILE}, {GPT2_FOLDER}/, "
                                  f"{INFO_FILE}) made by train_clipcap", "no such file")
    info = json.loads(info_file.read_text())
    for key in ("prefix_length", "prefix_size"):
        if key not in info:
            raise DataValidationError(info_file, key, "a ClipCap setting", "missing")
    return info


def load_captioner(folder: str | os.PathLike, device: str | torch.device = "cpu") -> ClipCapCaptioner:
    """A captioner folder (``clipcap.pt`` + ``gpt2/`` + ``clipcap.json``) through load_clipcap."""
    folder = Path(folder)
    info = read_captioner_info(folder)
    return load_clipcap(folder / WEIGHTS_FILE, folder / GPT2_FOLDER, int(info["prefix_length"]), device,
                        prefix_size=int(info["prefix_size"]), normalize_prefix=bool(info.get("normalize_prefix")))


# ---------------------------------------------------------------------------------------------
# The demo's tokenizer and GPT-2
# ---------------------------------------------------------------------------------------------

_NORMALIZER = normalizers.Lowercase()
# Whitespace, then punctuation as tokens of its own: "rocket." -> "rocket", "."
_PRE_TOKENIZER = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])


def caption_words(text: str) -> list[str]:
    """The demo tokenizer's words of ``text`` (lower case, punctuation split off)."""
    return [word for word, _ in _PRE_TOKENIZER.pre_tokenize_str(_NORMALIZER.normalize_str(text))]


def build_word_tokenizer(captions: list[str], model_max_length: int = 1024) -> PreTrainedTokenizerFast:
    """A word-level tokenizer of the words in ``captions``: the special tokens (pad, end of text,
    unknown) first, then the words by falling count, ties alphabetical, so the same captions give
    the same ids. Decoding joins words with spaces and closes them up before punctuation."""
    counts = Counter(word for text in captions for word in caption_words(text))
    words = sorted(counts, key=lambda word: (-counts[word], word))
    vocab = {token: number for number, token in enumerate([PAD_TOKEN, EOS_TOKEN, UNK_TOKEN, *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token=UNK_TOKEN))
    backend.normalizer = _NORMALIZER
    backend.pre_tokenizer = _PRE_TOKENIZER
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token=PAD_TOKEN, eos_token=EOS_TOKEN,
                                   bos_token=EOS_TOKEN, unk_token=UNK_TOKEN, model_max_length=model_max_length)


def demo_gpt2_config(architecture: ClipCapArchitecture, tokenizer) -> GPT2Config:
    """A GPT2Config of ``architecture`` over ``tokenizer``'s vocabulary."""
    return GPT2Config(vocab_size=len(tokenizer), n_positions=architecture.n_positions, n_embd=architecture.n_embd,
                      n_layer=architecture.n_layer, n_head=architecture.n_head, resid_pdrop=architecture.dropout,
                      embd_pdrop=architecture.dropout, attn_pdrop=architecture.dropout,
                      bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                      pad_token_id=tokenizer.pad_token_id)


def encode_captions(tokenizer, captions: list[str], max_tokens: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Token ids (N, L) padded after each caption, their mask (1: a token), and L.

    L is the reference's rule, the smaller of the longest caption and mean + 10 std of the
    lengths (longer captions are cut), and at most ``max_tokens`` (what GPT-2's positions leave).
    No start or end token is added: a caption ends with its stop token.
    """
    encoded = [tokenizer.encode(text, add_special_tokens=False) for text in captions]
    lengths = np.array([len(ids) for ids in encoded], dtype=np.float64)
    seq_len = min(int(lengths.mean() + 10 * lengths.std()), int(lengths.max()), int(max_tokens))
    cut = int((lengths > seq_len).sum())
    if cut:
        logger.info("ClipCap: %d of %d captions are longer than %d tokens and were cut", cut, len(encoded), seq_len)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    tokens = torch.full((len(encoded), seq_len), pad, dtype=torch.long)
    mask = torch.zeros((len(encoded), seq_len), dtype=torch.float32)
    for row, ids in enumerate(encoded):
        ids = ids[:seq_len]
        tokens[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[row, : len(ids)] = 1.0
    return tokens, mask, seq_len


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def _epoch_seed(config: ClipCapTrainingConfig, epoch: int) -> int:
    """Each epoch's shuffle and dropout come from (seed, epoch) alone, so a resumed run draws what
    an uninterrupted one does without carrying RNG state."""
    return derive_seed(config.seed, "clipcap", f"epoch-{epoch}")


def _epoch_batches(tokens: torch.Tensor, mask: torch.Tensor, image_index: torch.Tensor, prefixes: torch.Tensor,
                   config: ClipCapTrainingConfig, epoch: int) -> Iterator[tuple[torch.Tensor, ...]]:
    """The epoch's shuffled batches (the last incomplete one dropped, as the reference's loader
    does), each cut to its longest caption: (tokens, mask with the prefix's ones, prefixes)."""
    generator = torch.Generator().manual_seed(_epoch_seed(config, epoch))
    order = torch.randperm(len(tokens), generator=generator)
    device = prefixes.device
    for step in range(len(tokens) // config.batch_size):
        index = order[step * config.batch_size:(step + 1) * config.batch_size]
        batch_mask = mask[index]
        width = max(int(batch_mask.sum(1).max()), 1)
        batch_mask = torch.cat((torch.ones(len(index), config.prefix_length), batch_mask[:, :width]), dim=1)
        yield tokens[index, :width].to(device), batch_mask.to(device), prefixes[image_index[index].to(device)]


def _run_epoch(model: ClipCaptionModel, batches, optimizer, scheduler) -> float:
    model.train()
    losses = []
    for tokens, mask, prefix in batches:
        loss = model.loss(tokens, prefix, mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
    return float(np.mean(losses))


def _checkpoints(folder: Path) -> list[Path]:
    return sorted(folder.glob("epoch-*.pt"))


def fit_clipcap(prefixes: np.ndarray, image_index: np.ndarray, tokens: torch.Tensor, mask: torch.Tensor,
                gpt_config: GPT2Config, config: ClipCapTrainingConfig, *, device: torch.device | str = "cpu",
                resume_dir: str | os.PathLike | None = None,
                stop_after_epoch: int | None = None) -> tuple[ClipCaptionModel, list[float]]:
    """Train a ClipCaptionModel (mapper and GPT-2 together) on captions ``tokens``/``mask`` of the
    images ``image_index`` (rows of ``prefixes``, the embeddings). Returns the model and each
    epoch's mean loss.

    The initialisation is seeded from ``config.seed`` inside ``fork_rng``: the caller's RNG is
    untouched. With ``resume_dir`` each finished epoch is checkpointed there (model, optimiser,
    scheduler, losses) and a rerun resumes from the last one; the caller keys the folder on the
    inputs. ``stop_after_epoch`` ends the run after that many epochs in total, as an interruption
    would.
    """
    device = torch.device(device)
    n_steps = len(tokens) // config.batch_size
    if n_steps < 1:
        raise ValueError(f"{len(tokens)} captions make no batch of batch_size={config.batch_size}")
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(config.seed)
        model = ClipCaptionModel(gpt_config, config.prefix_length, prefixes.shape[1]).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                      eps=config.eps)
        scheduler = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=config.warmup_steps,
                                                    num_training_steps=config.epochs * n_steps)
        losses: list[float] = []
        folder = Path(resume_dir) if resume_dir is not None else None
        found = _checkpoints(folder) if folder is not None else []
        if found:
            payload = torch.load(found[-1], map_location=device, weights_only=True)
            model.load_state_dict(payload["model"])
            optimizer.load_state_dict(payload["optimizer"])
            scheduler.load_state_dict(payload["scheduler"])
            losses = [float(value) for value in payload["losses"]]
            logger.info("ClipCap: resumed from %s after epoch %d", found[-1], len(losses))
        embeddings = torch.from_numpy(np.ascontiguousarray(prefixes, dtype=np.float32)).to(device)
        if config.normalize_prefix:
            embeddings = embeddings / embeddings.norm(p=2, dim=-1, keepdim=True)
        images = torch.from_numpy(np.asarray(image_index, dtype=np.int64))
        end = config.epochs if stop_after_epoch is None else min(int(stop_after_epoch), config.epochs)
        for epoch in range(len(losses), end):
            torch.manual_seed(_epoch_seed(config, epoch))  # dropout
            batches = _epoch_batches(tokens, mask, images, embeddings, config, epoch)
            losses.append(_run_epoch(model, batches, optimizer, scheduler))
            logger.info("ClipCap epoch %d/%d: mean loss %.4f over %d steps", epoch + 1, config.epochs, losses[-1],
                        n_steps)
            if folder is not None:
                checkpoint = folder / f"epoch-{epoch + 1:04d}.pt"
                with atomic_path(checkpoint) as temp, open(temp, "wb") as handle:
                    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                "scheduler": scheduler.state_dict(), "losses": losses}, handle)
                for older in _checkpoints(folder):
                    if older != checkpoint:
                        older.unlink()
    model.eval()
    return model, losses


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


def read_feature_table(features, feature_ids) -> tuple[np.ndarray, dict[str, int]]:
    """The (N, D) embeddings and each stim_id's row, checked against each other."""
    features, feature_ids = Path(features), Path(feature_ids)
    for path in (features, feature_ids):
        if not path.is_file():
            raise DataValidationError(path, "file", "the image features (.npy) and their .ids.txt", "no such file")
    values = np.load(features)
    if values.ndim != 2 or values.shape[0] == 0:
        raise DataValidationError(features, "features", "a non-empty (n_images, dim) array", values.shape)
    if not np.isfinite(values).all():
        raise DataValidationError(features, "features", "finite values", "NaN or inf")
    ids = [line.strip() for line in feature_ids.read_text().splitlines() if line.strip()]
    if len(ids) != values.shape[0]:
        raise DataValidationError(feature_ids, "ids", f"{values.shape[0]} ids (one per row of {features.name})",
                                  len(ids))
    rows = {}
    for row, stim_id in enumerate(ids):
        if stim_id in rows:
            raise DataValidationError(feature_ids, "ids", "each stim_id once", stim_id)
        rows[stim_id] = row
    return values.astype(np.float32, copy=False), rows


def read_caption_table(captions) -> pd.DataFrame:
    """captions.parquet (stim_id, caption_id, caption, split) with every caption non-empty."""
    path = Path(captions)
    if not path.is_file():
        raise DataValidationError(path, "file", "a captions table (captions.parquet)", "no such file")
    table = pd.read_parquet(path)
    missing = [column for column in ("stim_id", "caption_id", "caption", "split") if column not in table.columns]
    if missing:
        raise DataValidationError(path, missing[0], "the columns stim_id, caption_id, caption, split", "missing")
    table = table.assign(stim_id=table["stim_id"].astype(str))
    for caption_id, text in zip(table["caption_id"], table["caption"]):
        if pd.isna(text) or not str(text).strip():
            raise DataValidationError(path, f"caption (caption_id {caption_id})", "a non-empty caption", repr(text))
    return table


def _rows_of(stim_ids, rows: dict[str, int], source, feature_ids) -> np.ndarray:
    for stim_id in stim_ids:
        if stim_id not in rows:
            raise DataValidationError(source, "stim_id", f"an image with a row in {feature_ids}", stim_id)
    return np.array([rows[stim_id] for stim_id in stim_ids], dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------------------------


def derive(seed: int) -> int:
    """The training seed of the captioner, from the master seed."""
    return derive_seed(seed, "clipcap", "train") % 2**31


def train_clipcap(*, features, feature_ids, captions, captioner, settings: dict, seed: int, device: str = "cpu",
                  stop_after_epoch: int | None = None) -> ClipCapCaptioner | None:
    """Train the demo captioner on the train split's captions -> the folder ``captioner``.

    ``features``/``feature_ids``: the CLIP image embeddings (.npy) and their stim_ids (.ids.txt);
    ``captions``: captions.parquet (only split == 'train' is used); ``settings``: the ``clipcap``
    section (its ``training`` part is :class:`ClipCapTrainingConfig`). The folder holds
    ``clipcap.pt`` (the state dict), ``gpt2/`` (GPT-2 config and word tokenizer) and
    ``clipcap.json`` and is written as a whole. Each epoch is checkpointed in
    ``<captioner>.resume/``, keyed on the inputs and settings: a killed run resumes there, a changed
    input starts afresh; the folder is removed once the captioner is written. With
    ``stop_after_epoch`` the run stops early (an interruption) and writes no captioner.
    """
    config = from_section(ClipCapTrainingConfig, (settings or {}).get("training"), "clipcap.training",
                          seed=derive(seed))
    values, rows = read_feature_table(features, feature_ids)
    table = read_caption_table(captions)
    train = table[table["split"] == "train"].sort_values(["stim_id", "caption_id"], kind="stable")
    if train.empty:
        raise DataValidationError(captions, "split", "captions of the train split", "none")
    stim_ids = sorted(set(train["stim_id"]))
    feature_rows = _rows_of(stim_ids, rows, captions, feature_ids)
    texts = [str(text).strip() for text in train["caption"]]
    if config.append_stop_token:
        texts = [text if text.endswith(config.stop_token) else text + config.stop_token for text in texts]
    unstopped = sum(not text.endswith(config.stop_token) for text in texts)
    if unstopped:
        logger.info("ClipCap: %d of %d training captions do not end with the stop token %r", unstopped, len(texts),
                    config.stop_token)
    if len(texts) < config.batch_size:
        raise DataValidationError(captions, "split", f"at least batch_size={config.batch_size} (clipcap.training."
                                  "batch_size) training captions", len(texts))
    architecture = config.architecture
    tokenizer = build_word_tokenizer(texts, model_max_length=architecture.n_positions)
    stop_token_id(tokenizer, config.stop_token)
    gpt_config = demo_gpt2_config(architecture, tokenizer)
    tokens, mask, seq_len = encode_captions(tokenizer, texts, architecture.n_positions - config.prefix_length)
    index_of = {stim_id: number for number, stim_id in enumerate(stim_ids)}
    image_index = np.array([index_of[stim_id] for stim_id in train["stim_id"]], dtype=np.int64)
    inputs = {"features": fingerprint(features), "feature_ids": fingerprint(feature_ids),
              "captions": fingerprint(captions)}
    key = {"format": FORMAT, "inputs": inputs, "training": asdict(config)}
    folder = resume_folder(Path(f"{captioner}.resume"), key, "ClipCap training")
    device = resolve_device(device)
    model, losses = fit_clipcap(values[feature_rows], image_index, tokens, mask, gpt_config, config, device=device,
                                resume_dir=folder, stop_after_epoch=stop_after_epoch)
    if len(losses) < config.epochs:
        return None
    info = {"format": FORMAT, "prefix_length": config.prefix_length, "prefix_size": int(values.shape[1]),
            "normalize_prefix": config.normalize_prefix, "stop_token": config.stop_token,
            "training": asdict(config), "neurogaze_version": __version__, "inputs": inputs,
            "n_train_images": len(stim_ids), "n_train_captions": len(texts), "max_caption_tokens": seq_len,
            "vocab_size": len(tokenizer), "epoch_losses": losses}
    with atomic_directory(captioner) as temp:
        state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
        with open(temp / WEIGHTS_FILE, "wb") as handle:  # a fixed name inside the archive: same bytes each run
            torch.save(state, handle)
        gpt_config.save_pretrained(temp / GPT2_FOLDER)
        tokenizer.save_pretrained(temp / GPT2_FOLDER)
        write_json(temp / INFO_FILE, info)
    for path in sorted(folder.iterdir()):
        path.unlink()
    folder.rmdir()
    return load_captioner(captioner, device)


def _open_captioner(captioner, gpt2, prefix_size: int, settings: dict, device) -> ClipCapCaptioner:
    """A captioner folder (the demo's), or a released weights file with its GPT-2 folder."""
    if Path(captioner).is_dir():
        return load_captioner(captioner, device)
    if gpt2 is None:
        raise ConfigError(None, "clipcap.gpt2", f"a GPT-2 folder for the released weights file {captioner}")
    return load_clipcap(captioner, gpt2, int(settings.get("prefix_length", RELEASED_PREFIX_LENGTH)), device,
                        prefix_size=prefix_size, normalize_prefix=bool(settings.get("normalize_prefix", False)))


def category_words(categories: list[str], words: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """Each category's caption words: ``words[category]`` if given, else the category's name."""
    chosen = {}
    for category in categories:
        listed = (words or {}).get(category)
        listed = [listed] if isinstance(listed, str) else listed
        chosen[category] = [str(word).lower() for word in (listed or [category])]
    return chosen


def mentions(caption: str, words: list[str]) -> bool:
    """Whether ``caption`` says one of ``words`` as a whole word (or its plural in -s / -es)."""
    text = caption.lower()
    return any(re.search(rf"(?<![a-z]){re.escape(word)}(?:s|es)?(?![a-z])", text) for word in words)


def word_recall_table(generated: pd.DataFrame, objects: pd.DataFrame, words: dict[str, list[str]]) -> pd.DataFrame:
    """Per category: how the generated captions of the test images name it.

    - ``n_images``: test images holding the category; ``n_mentions``: captions naming it;
      ``n_hits``: captions naming it whose image holds it;
    - ``recall`` = n_hits / n_images; ``precision`` = n_hits / n_mentions;
    - ``chance`` = n_images / n_test, the share of test images holding it: the precision of a
      captioner blind to the image, and the recall of one that names it, blindly, as often as it
      occurs;
    - ``chance_recall`` = n_mentions / n_test: the recall of a blind captioner that names it as
      often as this one does.

    The row ``all`` pools every (image, category) pair: recall and precision from the summed counts;
    its chances are the blind captioner's expected pooled precision (mention-weighted mean of
    ``chance``) and pooled recall (image-weighted mean of ``chance_recall``).
    """
    n_test = len(generated)
    held = objects.groupby("category")["stim_id"].agg(lambda ids: set(map(str, ids))).to_dict()
    rows = []
    for category, listed in words.items():
        holding = held.get(category, set())
        said = {stim_id for stim_id, text in zip(generated["stim_id"], generated["caption"]) if mentions(text, listed)}
        hits = len(said & holding)
        rows.append({"category": category, "words": "|".join(listed), "n_images": len(holding),
                     "n_mentions": len(said), "n_hits": hits,
                     "recall": hits / len(holding) if holding else np.nan,
                     "precision": hits / len(said) if said else np.nan,
                     "chance": len(holding) / n_test, "chance_recall": len(said) / n_test})
    table = pd.DataFrame(rows)
    images, said, hits = (int(table[column].sum()) for column in ("n_images", "n_mentions", "n_hits"))
    rows.append({"category": "all", "words": "", "n_images": images, "n_mentions": said, "n_hits": hits,
                 "recall": hits / images if images else np.nan, "precision": hits / said if said else np.nan,
                 "chance": float((table["n_mentions"] * table["chance"]).sum() / said) if said else np.nan,
                 "chance_recall": float((table["n_images"] * table["chance_recall"]).sum() / images)
                 if images else np.nan})
    return pd.DataFrame(rows)


def evaluate_captioner(*, captioner, features, feature_ids, objects, captions, table, generated, settings: dict,
                       gpt2=None, device: str = "cpu") -> pd.DataFrame:
    """Caption every test-split image from its features; write the word recall per object
    category (``table``, csv: see :func:`word_recall_table`) and the captions (``generated``,
    parquet: stim_id, caption).

    ``captioner`` is a folder from train_clipcap, or a released weights file (``coco_weights.pt``)
    with ``gpt2`` its GPT-2 folder (then ``settings`` may give prefix_length, default 10).
    ``settings``: the ``clipcap`` section; its ``decoding`` part is :class:`ClipCapDecodingConfig`,
    its ``evaluation`` part :class:`CaptionEvaluationConfig`. Test images are those with a
    test-split caption; their objects come from ``objects`` (objects.parquet).
    """
    settings = settings or {}
    decoding = from_section(ClipCapDecodingConfig, settings.get("decoding"), "clipcap.decoding")
    evaluation = from_section(CaptionEvaluationConfig, settings.get("evaluation"), "clipcap.evaluation")
    values, rows = read_feature_table(features, feature_ids)
    caption_table = read_caption_table(captions)
    test_ids = sorted(set(caption_table.loc[caption_table["split"] == "test", "stim_id"]))
    if not test_ids:
        raise DataValidationError(captions, "split", "captions of the test split", "none")
    feature_rows = _rows_of(test_ids, rows, captions, feature_ids)
    object_path = Path(objects)
    if not object_path.is_file():
        raise DataValidationError(object_path, "file", "an objects table (objects.parquet)", "no such file")
    object_table = pd.read_parquet(object_path)
    for column in ("stim_id", "category", "split"):
        if column not in object_table.columns:
            raise DataValidationError(object_path, column, "the columns stim_id, category, split", "missing")
    device = resolve_device(device)
    model = _open_captioner(captioner, gpt2, int(values.shape[1]), settings, device)
    if model.prefix_size != values.shape[1]:
        raise DataValidationError(features, "features", f"{model.prefix_size} columns (the captioner's prefix_size)",
                                  values.shape[1])
    texts = model.caption(values[feature_rows], beam_size=decoding.beam_size, max_tokens=decoding.max_tokens,
                          stop_token=decoding.stop_token, temperature=decoding.temperature,
                          batch_size=decoding.batch_size)
    result = pd.DataFrame({"stim_id": pd.Series(test_ids, dtype="string"), "caption": pd.Series(texts, dtype="string")})
    test_objects = object_table[object_table["stim_id"].astype(str).isin(set(test_ids))]
    categories = sorted(set(object_table["category"].astype(str)))
    recall = word_recall_table(result, test_objects.assign(category=test_objects["category"].astype(str)),
                               category_words(categories, evaluation.words))
    write_parquet(generated, result)
    write_csv(table, recall)
    for row in recall.itertuples():
        logger.info("ClipCap captions: %s recall %.3f (chance %.3f), precision %.3f (chance %.3f), %d images",
                    row.category, row.recall, row.chance_recall, row.precision, row.chance, row.n_images)
    return recall


__all__ = [
    "CaptionEvaluationConfig", "ClipCapArchitecture", "ClipCapCaptioner", "ClipCapDecodingConfig",
    "ClipCapTrainingConfig", "ClipCaptionModel", "MLP", "beam_search", "build_word_tokenizer", "category_words",
    "check_state_dict", "demo_gpt2_config", "encode_captions", "evaluate_captioner", "fit_clipcap", "generate_beam",
    "load_captioner", "load_clipcap", "load_tokenizer", "mapper_sizes", "mentions", "read_gpt2_config",
    "read_state_dict", "train_clipcap", "word_recall_table",
]
