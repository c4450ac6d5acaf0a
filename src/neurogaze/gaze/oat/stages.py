"""OAT's stages: ``oat_train`` (an object-array root -> a model folder) and ``oat_evaluate``
(a model folder + a root -> metric tables for OAT and every baseline), and the reader that
takes either object-array layout (Kreiman arrays or STI shelves)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import neurogaze
from neurogaze.config import from_section
from neurogaze.data.gaze.objects import ObjectSearchSet, read_kreiman
from neurogaze.data.gaze.sti import read_sti
from neurogaze.errors import DataValidationError
from neurogaze.gaze.oat.baselines import BASELINES, STOCHASTIC, baseline_scanpath
from neurogaze.gaze.oat.evaluate import score_method
from neurogaze.gaze.oat.model import OatConfig
from neurogaze.gaze.oat.train import OatData, build_model, decode, layout_ring, subject_split, train
from neurogaze.io import atomic_directory, fingerprint, resume_folder, write_json, write_torch
from neurogaze.runlog import derive_seed

logger = logging.getLogger(__name__)

MODEL_FILE = "model.pt"


def read_search_set(root: str | os.PathLike, patch_size) -> ObjectSearchSet:
    """The object search set under ``root``: Kreiman arrays (subjectsdata/LISTCORRECTFILES.txt)
    or STI shelves (amazon_data/amazon_data.json)."""
    root = Path(root)
    if (root / "subjectsdata" / "LISTCORRECTFILES.txt").is_file():
        return read_kreiman(root, tuple(patch_size))
    if (root / "amazon_data" / "amazon_data.json").is_file():
        return read_sti(root, tuple(patch_size))
    raise DataValidationError(root, "layout", "an object-array root: subjectsdata/LISTCORRECTFILES.txt (Kreiman) or "
                                              "amazon_data/amazon_data.json (STI shelves)", "neither")


def _save_progress(folder: Path, key: dict):
    def save(state: dict) -> None:
        write_torch(folder / "checkpoint.pt", {**state, "key": key})

    return save


def oat_train(*, root, out_dir, settings: dict, split: dict, dataset: str = "") -> None:
    """Train OAT on the training subjects of ``root`` (early stopping on the validation ones) and
    write ``out_dir/``: ``model.pt`` (config, state dict, split, layout size, neurogaze version,
    progress), ``history.csv`` and ``split.json``. An interrupted run resumes from
    ``<out_dir>.partial/checkpoint.pt`` when the inputs and settings are the same."""
    config = from_section(OatConfig, settings, "oat")
    search_set = read_search_set(root, config.patch_size)
    subjects = subject_split(search_set.subjects(), seed=derive_seed(config.seed, "oat", "split"), **split)
    logger.info("oat: %s subjects %s", search_set.name, subjects)
    key = {"root": fingerprint(root), "settings": config.to_dict(), "split": split}
    partial = resume_folder(f"{out_dir}.partial", key, "OAT")
    checkpoint = partial / "checkpoint.pt"
    state = torch.load(checkpoint, weights_only=False) if checkpoint.is_file() else None
    model, progress = train(config, search_set, subjects, state, _save_progress(partial, key))
    with atomic_directory(out_dir) as temp:
        write_torch(temp / MODEL_FILE, {"config": config.to_dict(), "state_dict": model.state_dict(),
                                        "split": subjects, "dataset": search_set.name,
                                        "n_objects": search_set.n_objects, "ring": layout_ring(search_set),
                                        "progress": progress,
                                        "neurogaze_version": neurogaze.__version__})
        pd.DataFrame(progress["history"]).to_csv(temp / "history.csv", index=False)
        write_json(temp / "split.json", subjects)
    shutil.rmtree(partial, ignore_errors=True)


def load_model(model_dir):
    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise DataValidationError(path, "file", "an OAT model written by oat_train", "no such file")
    payload = torch.load(path, weights_only=False)
    config = from_section(OatConfig, payload["config"], "oat")
    model = build_model(config, payload["ring"])
    model.load_state_dict(payload["state_dict"])
    return model, config, payload


def _predictions(model, config, search_set: ObjectSearchSet, seed: int) -> tuple[dict, dict, list[dict]]:
    data = OatData(search_set, config.max_length)
    trials = search_set.trials
    generator = torch.Generator().manual_seed(derive_seed(seed, "oat", "samples"))
    greedy = decode(model, data, trials, True, None)
    samples = [decode(model, data, trials, False, generator) for _ in range(config.n_samples)]
    deterministic = {"oat": {t.key: [greedy[i]] for i, t in enumerate(trials)}}
    sampled = {"oat": {t.key: [s[i] for s in samples] for i, t in enumerate(trials)}}
    rng = np.random.default_rng(derive_seed(seed, "oat", "baselines"))
    for name in BASELINES:
        draws = config.n_samples if name in STOCHASTIC else 1
        paths = {t.key: [baseline_scanpath(name, t, search_set, rng, config.max_length) for _ in range(draws)]
                 for t in trials}
        deterministic[name], sampled[name] = paths, paths
    rows = [{"method": method, "subject": t.subject, "key": t.key, "layout": t.layout, "target_index": t.target_index,
             "sequence": " ".join(map(str, paths[t.key][0]))}
            for method, paths in deterministic.items() for t in trials]
    rows += [{"method": "human", "subject": t.subject, "key": t.key, "layout": t.layout,
              "target_index": t.target_index, "sequence": " ".join(map(str, t.sequence))} for t in trials]
    return deterministic, sampled, rows


def oat_evaluate(*, model, root, out_dir, subjects: list[str] | None = None, dataset: str = "") -> None:
    """OAT (greedy and n_samples sampled scanpaths per trial) and every baseline on the test
    subjects of the model's split, or on ``subjects``: ``out_dir/metrics.csv`` (one row per
    method, subject, metric; subject ``all``: pooled over every trial, as the reference
    scores), ``predictions.parquet`` (each method's first scanpath and the human one per trial)."""
    network, config, payload = load_model(model)
    search_set = read_search_set(root, config.patch_size)
    wanted = list(subjects) if subjects else payload["split"]["test"]
    unknown = sorted(set(wanted) - set(search_set.subjects()))
    if unknown:
        raise DataValidationError(root, "subjects", f"subjects of the data ({', '.join(search_set.subjects())})",
                                  unknown)
    test = search_set.select(wanted)
    if test.n_objects != payload["n_objects"]:
        raise DataValidationError(root, "layout", f"{payload['n_objects']} objects per layout, as the model was "
                                  "trained on", test.n_objects)
    deterministic, sampled, rows = _predictions(network, config, test, config.seed)
    tables = []
    for method in deterministic:
        table = score_method(test, deterministic[method], sampled[method])
        tables.append(table.assign(method=method))
    metrics = pd.concat(tables, ignore_index=True).assign(split="test", seed=config.seed)
    metrics = metrics[["method", "subject", "metric", "value", "split", "seed"]]
    with atomic_directory(out_dir) as temp:
        metrics.to_csv(temp / "metrics.csv", index=False)
        pd.DataFrame(rows).to_parquet(temp / "predictions.parquet", index=False)
    logger.info("oat: %s", metrics[metrics.subject == "all"].pivot(index="method", columns="metric", values="value")
                [["sequence_score", "behaviour_delta"]].to_string())
