"""The SEEG rules' functions: ``seeg_events`` (pairs), ``seeg_features`` (one backbone's
embeddings of the paired frames and sentences), then per subject ``seeg_subject_layers`` (every
layer's cross-validated ridge), ``seeg_layers`` (the gather: each model's layer, chosen over every
subject), ``seeg_encode_subject`` (ridge, bootstrap, comparison p-values at those layers) and
``seeg_encode`` (the gather of the subjects' scores), then ``seeg_sites`` (FDR, site classes,
regions). :func:`encode_cohort` does the encoding steps in one process (the same bytes). The
figures are :func:`neurogaze.figures.seeg.plot`."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from nilearn.image import coord_transform

from neurogaze import __version__
from neurogaze.brain.seeg.events import ALIGNMENTS, pair_events
from neurogaze.brain.seeg.features import (
    META,
    SRP_SEED,
    check_not_constant,
    embed_pairs,
    jl_dimension,
    linear_combination_design,
    model_design,
    read_embeddings,
    reduce_dimension,
)
from neurogaze.brain.seeg.models import LINEAR_COMBINATION, OUTPUT_LAYER, RANDOM_SUFFIX, SeegModel, read_models
from neurogaze.brain.seeg.regression import (
    bootstrap_counts,
    bootstrap_scores,
    cross_validate,
    lower_bound,
    p_better,
    refit_bootstrap_scores,
)
from neurogaze.brain.seeg.sites import (
    PAPER_MULTIMODAL,
    best_models,
    classify,
    comparisons,
    region_counts,
    responsive_electrodes,
    significant_bins,
    wins,
)
from neurogaze.errors import DataValidationError
from neurogaze.io import atomic_path, write_csv, write_json, write_parquet
from neurogaze.runlog import derive_seed

logger = logging.getLogger(__name__)
GROUND_TRUTH = "ground_truth.json"


# --- rule seeg_events -----------------------------------------------------------------------------


def events(*, brain: str | os.PathLike, root: str | os.PathLike, pairs: str | os.PathLike) -> pd.DataFrame:
    """Pair every word with its frame and every scene cut with its sentence -> ``pairs`` (parquet)."""
    path = Path(brain) / "events.parquet"
    table = pair_events(pd.read_parquet(path), Path(root) / "stimuli", path)
    write_parquet(pairs, table)
    logger.info("%s", table.groupby(["subject", "alignment"]).size().to_dict())
    return table


# --- rule seeg_features ---------------------------------------------------------------------------


def features(*, pairs, root, weights, features, backbone: str, spec: dict, inputs: list[str],
             layers: dict | None = None, srp_eps: float = 0.1, device: str = "cpu", tokenizer=None) -> None:
    """Backbone ``backbone``'s embeddings of every paired frame and sentence, and its ``layers``'
    activations projected to the Johnson-Lindenstrauss dimension of the largest subject-alignment
    event set at ``srp_eps`` -> ``features`` (.npz with a JSON ``meta`` describing it).
    ``tokenizer``: the folder of a backbone that keeps its tokenizer apart (ALBEF)."""
    table = pd.read_parquet(pairs)
    n_events = int(table.groupby(["subject", "alignment"]).size().max())
    target = jl_dimension(n_events, srp_eps)
    spec = {**spec, "weights": str(weights)}
    tokenizer = [tokenizer] if isinstance(tokenizer, (str, Path)) else list(tokenizer or [])
    if tokenizer:
        spec["tokenizer"] = str(tokenizer[0])
    embedded = embed_pairs(table, Path(root) / "stimuli", spec, tuple(inputs), device, layers=layers,
                           target_dim=target)
    for key in ("image", "text"):
        if key in embedded and not np.any(np.ptp(embedded[key], axis=0) > 0):
            raise DataValidationError(weights, key, f"{key} embeddings that vary across inputs", "constant")
    meta = {"backbone": backbone, "kind": spec.get("kind", "open_clip"), "model": spec.get("model"),
            "random": bool(spec.get("random", False)), "weights": str(weights), "inputs": list(inputs),
            "layers": layers or {}, "output": {key: embedded[key].shape[1] for key in ("image", "text")
                                               if key in embedded},
            "projection": {"method": "sparse random projection", "eps": srp_eps, "seed": SRP_SEED,
                           "events": n_events, "dimension": target},
            "widths": {key: value.shape[1] for key, value in embedded.items() if "::" in key},
            "code_version": __version__}
    with atomic_path(features) as temp, open(temp, "wb") as handle:
        np.savez(handle, **embedded, **{META: np.asarray(json.dumps(meta, sort_keys=True))})


# --- rule seeg_encode -----------------------------------------------------------------------------


def _feature_files(features) -> dict[str, Path]:
    files = [features] if isinstance(features, (str, os.PathLike)) else list(features)
    return {Path(file).stem: Path(file) for file in files}


def candidate_layers(models: dict[str, SeegModel]) -> dict[str, list[str]]:
    return {name: [OUTPUT_LAYER, *model.layers] for name, model in models.items()}


def _design(pairs, model: SeegModel, embeddings: dict, path, layer: str, eps: float) -> np.ndarray:
    design = model_design(pairs, model.inputs, embeddings, path, layer)
    return design if layer == OUTPUT_LAYER else reduce_dimension(design, eps)


def designs(pairs: pd.DataFrame, settings: dict, embeddings: dict[str, dict], files: dict[str, Path],
            chosen: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Every model's, every random version's and the linear combination's design matrix, each
    model at its ``chosen`` layer (default: the output) and its random version at the same one."""
    models = read_models(settings)
    chosen = {name: (chosen or {}).get(name, OUTPUT_LAYER) for name in models}
    out = {}
    for name, model in models.items():
        versions = [(name, model.backbone)] + ([(name + RANDOM_SUFFIX, model.random)] if model.random else [])
        for label, backbone in versions:
            out[label] = _design(pairs, model, embeddings[backbone], files[backbone], chosen[name],
                                 settings["srp_eps"])
            check_not_constant(out[label], files[backbone], label)
    combination = settings["linear_combination"]
    if combination:
        vision, language = (combination[key] for key in ("vision", "language"))
        paths = (files[models[vision].backbone], files[models[language].backbone])
        design = linear_combination_design(pairs, embeddings[models[vision].backbone],
                                           embeddings[models[language].backbone], paths,
                                           (chosen[vision], chosen[language]))
        out[LINEAR_COMBINATION] = reduce_dimension(design, settings["srp_eps"])
        check_not_constant(out[LINEAR_COMBINATION], paths[0], LINEAR_COMBINATION)
    return out


def read_responses(brain: Path, subject: str, band: str) -> pd.DataFrame:
    """Events x (electrode, window_start) of one band."""
    path = brain / f"{subject}.features.parquet"
    table = pd.read_parquet(path, columns=["stim_id", "channel", "band", "window_start", "value"])
    table = table.loc[table["band"] == band]
    if table.empty:
        raise DataValidationError(path, "band", f"rows of band {band!r}", "none")
    return table.pivot_table(index="stim_id", columns=["channel", "window_start"], values="value", aggfunc="first")


def check_electrodes(responses: pd.DataFrame, electrodes: pd.DataFrame, subject: str, path) -> None:
    known = set(electrodes.loc[electrodes["subject"] == subject, "name"])
    missing = [name for name in responses.columns.get_level_values(0).unique() if name not in known]
    if missing:
        raise DataValidationError(path, "name", f"every recorded electrode of {subject} in channels.tsv",
                                  f"no row for {missing[0]!r}")


def _event_sets(pairs: pd.DataFrame, brain: Path, electrodes: pd.DataFrame, band: str):
    """(subject, alignment, its pairs, responses Y, the responses' columns) in a fixed order."""
    for subject, subject_pairs in pairs.groupby("subject", sort=True):
        responses = read_responses(brain, subject, band)
        check_electrodes(responses, electrodes, subject, brain / "electrodes.parquet")
        for alignment in ALIGNMENTS:
            chosen = subject_pairs.loc[subject_pairs["alignment"] == alignment].reset_index(drop=True)
            missing = ~chosen["stim_id"].isin(responses.index)
            if missing.any():
                first = chosen["stim_id"][missing].iloc[0]
                raise DataValidationError(brain / f"{subject}.features.parquet", "stim_id",
                                          "responses of every paired event", f"none for {first}")
            yield subject, alignment, chosen, responses.loc[chosen["stim_id"]].to_numpy(np.float64), responses.columns


def _read_inputs(pairs, brain, features, band: str, subject: str | None = None):
    """The event sets (of ``subject`` alone when given), the embeddings and their files."""
    brain = Path(brain)
    electrodes = pd.read_parquet(brain / "electrodes.parquet")
    table = pd.read_parquet(pairs)
    if subject is not None:
        table = table.loc[table["subject"] == subject]
        if table.empty:
            raise DataValidationError(pairs, "subject", f"paired events of subject {subject}", "none")
    files = _feature_files(features)
    embeddings = {backbone: read_embeddings(path) for backbone, path in files.items()}
    return list(_event_sets(table, brain, electrodes, band)), embeddings, files


def layer_scores(event_sets: list, settings: dict, embeddings: dict, files: dict) -> pd.DataFrame:
    """The cross-validated ridge of every layer of every trained model with more than one layer:
    its mean validation and test r over each event set's electrodes and time bins."""
    models = read_models(settings)
    rows = []
    for subject, alignment, pairs, Y, _ in event_sets:
        for name, labels in candidate_layers(models).items():
            model = models[name]
            for layer in labels if len(labels) > 1 else []:
                X = _design(pairs, model, embeddings[model.backbone], files[model.backbone], layer,
                            settings["srp_eps"])
                check_not_constant(X, files[model.backbone], f"{name} at layer {layer}")
                fit = cross_validate(X, Y, settings["alphas"], settings["n_folds"])
                rows.append({"subject": subject, "alignment": alignment, "model": name, "layer": layer,
                             "features": X.shape[1], "targets": Y.shape[1], "val_r": float(fit.val_r.mean()),
                             "test_r": float(fit.test_r.mean())})
    return pd.DataFrame(rows, columns=["subject", "alignment", "model", "layer", "features", "targets", "val_r",
                                       "test_r"])


def best_layers(table: pd.DataFrame, models: dict[str, SeegModel]) -> dict[str, str]:
    """Each trained model's layer of the highest validation r averaged over every electrode and
    time bin of every subject and alignment (the output where a model has no other layer)."""
    chosen = {name: OUTPUT_LAYER for name in models}
    if table.empty:
        return chosen
    weighted = table.assign(total=table["val_r"] * table["targets"]).groupby(["model", "layer"])[["total", "targets"]]
    mean = weighted.sum().pipe(lambda t: t["total"] / t["targets"])
    chosen.update({name: str(group.idxmax()[1]) for name, group in mean.groupby(level="model")})
    return chosen


def layer_of(name: str, chosen: dict[str, str], settings: dict) -> str:
    """The layer a model version is read at (the linear combination: its two models' layers)."""
    if name == LINEAR_COMBINATION:
        combination = settings["linear_combination"]
        return " + ".join(f"{combination[key]}: {chosen[combination[key]]}" for key in ("vision", "language"))
    return chosen[name.removesuffix(RANDOM_SUFFIX)]


def score_tables(event_sets: list, settings: dict, embeddings: dict, files: dict, chosen: dict[str, str],
                 seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cross-validated ridge of every model at its ``chosen`` layer per event set, its bootstrap
    and the bootstrap p of every comparison: the scores and p-value tables."""
    found = comparisons(read_models(settings), settings["controlled_pair"])
    score_parts, p_parts = [], []
    for subject, alignment, event_pairs, Y, columns in event_sets:
        scored, boot = _fit_models(designs(event_pairs, settings, embeddings, files, chosen), Y, settings,
                                   derive_seed(seed, "seeg", subject, alignment))
        meta = {"subject": subject, "alignment": alignment, "electrode": np.asarray(columns.get_level_values(0)),
                "window_start": np.asarray(columns.get_level_values(1), dtype=float)}
        score_parts += [pd.DataFrame({**meta, "model": name, "layer": layer_of(name, chosen, settings), **values})
                        for name, values in scored.items()]
        p_parts += [pd.DataFrame({**meta, "comparison": c.name, "better": c.better, "worse": c.worse,
                                  "kind": c.kind, "p": p_better(boot[c.better], boot[c.worse])})
                    for c in found]
    return pd.concat(score_parts, ignore_index=True), pd.concat(p_parts, ignore_index=True)


def mark_chosen(per_layer: pd.DataFrame, chosen: dict[str, str]) -> pd.DataFrame:
    """The layer table with its ``chosen`` column."""
    return per_layer.assign(chosen=[chosen[m] == layer for m, layer in zip(per_layer["model"], per_layer["layer"])])


def read_chosen(layers: str | os.PathLike, settings: dict) -> dict[str, str]:
    """{model: its chosen layer} from the layer table ``layers`` (csv, rule ``seeg_layers``); the
    output layer for a model with no other."""
    path = Path(layers)
    if not path.exists():
        raise DataValidationError(path, "file", "the layer table of seeg_layers", "no such file")
    table = pd.read_csv(path, dtype={"model": str, "layer": str})
    marked = table.loc[table["chosen"].astype(bool)]
    chosen = {name: OUTPUT_LAYER for name in read_models(settings)}
    chosen.update(zip(marked["model"], marked["layer"]))
    return chosen


def _by_subject(parts: list[str], kinds: tuple[str, ...]) -> dict[str, list[Path]]:
    """{kind: its files in subject order} from ``<subject>.<kind>.parquet`` names; every subject
    must have one file of every kind."""
    found: dict[str, dict[str, Path]] = {}
    for part in map(Path, parts):
        subject, _, kind = part.name.removesuffix(".parquet").rpartition(".")
        if kind not in kinds or not subject:
            raise DataValidationError(part, "name", f"<subject>.<{'|'.join(kinds)}>.parquet", part.name)
        found.setdefault(subject, {})[kind] = part
    for subject, files in found.items():
        absent = [kind for kind in kinds if kind not in files]
        if absent:
            raise DataValidationError(next(iter(files.values())).parent / f"{subject}.{absent[0]}.parquet", "file",
                                      f"the {absent[0]} of every subject", "not among the parts")
    if not found:
        raise DataValidationError(None, "parts", "the per-subject files", "none")
    # sorted as the single-process loop groups the subjects
    return {kind: [found[subject][kind] for subject in sorted(found)] for kind in kinds}


def _concat(paths: list[Path]) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(path) for path in paths], ignore_index=True)


def subject_layers(*, pairs, brain, features, subject: str, layers, settings: dict) -> None:
    """Rule ``seeg_subject_layers``: the cross-validated ridge of every layer of every trained model
    with more than one layer on subject ``subject``'s event sets -> ``layers`` (parquet)."""
    event_sets, embeddings, files = _read_inputs(pairs, brain, features, settings["band"], subject)
    write_parquet(layers, layer_scores(event_sets, settings, embeddings, files))


def gather_layers(*, parts: list[str], layers, settings: dict) -> None:
    """Rule ``seeg_layers`` (the gather): the subjects' ``<subject>.layers.parquet`` ``parts`` ->
    ``layers`` (csv) with each model's layer of the highest validation r over every subject marked
    ``chosen``."""
    per_layer = _concat(_by_subject(parts, ("layers",))["layers"])
    chosen = best_layers(per_layer, read_models(settings))
    logger.info("layers: %s", chosen)
    write_csv(layers, mark_chosen(per_layer, chosen))


def encode_subject(*, pairs, brain, features, layers, subject: str, scores, pvalues, settings: dict,
                   seed: int) -> None:
    """Rule ``seeg_encode_subject``: the cross-validated ridge of every model at its chosen layer
    (``layers``, the gather's csv) on subject ``subject``'s event sets, its bootstrap and the
    bootstrap p of every comparison -> ``scores`` and ``pvalues`` (parquet)."""
    chosen = read_chosen(layers, settings)
    event_sets, embeddings, files = _read_inputs(pairs, brain, features, settings["band"], subject)
    score_table, p_table = score_tables(event_sets, settings, embeddings, files, chosen, seed)
    write_parquet(scores, score_table)
    write_parquet(pvalues, p_table)


def encode(*, parts: list[str], scores, pvalues) -> None:
    """Rule ``seeg_encode`` (the gather): the subjects' ``<subject>.scores.parquet`` and
    ``<subject>.pvalues.parquet`` ``parts`` (rule ``seeg_encode_subject``) -> ``scores`` and
    ``pvalues``, the subjects in sorted order."""
    named = _by_subject(parts, ("scores", "pvalues"))
    write_parquet(scores, _concat(named["scores"]))
    write_parquet(pvalues, _concat(named["pvalues"]))


def encode_cohort(*, pairs, brain, features, scores, pvalues, layers, settings: dict, seed: int) -> None:
    """The encoding rules in one process: every trained model's layers cross-validated to choose its
    best (``layers``, csv), then the cross-validated ridge of every model at its layer per subject
    and alignment, its bootstrap and the bootstrap p of every comparison -> ``scores`` and
    ``pvalues`` (parquet)."""
    event_sets, embeddings, files = _read_inputs(pairs, brain, features, settings["band"])
    per_layer = layer_scores(event_sets, settings, embeddings, files)
    chosen = best_layers(per_layer, read_models(settings))
    logger.info("layers: %s", chosen)
    score_table, p_table = score_tables(event_sets, settings, embeddings, files, chosen, seed)
    write_parquet(scores, score_table)
    write_parquet(pvalues, p_table)
    write_csv(layers, mark_chosen(per_layer, chosen))


def _fit_models(all_designs: dict, Y: np.ndarray, settings: dict, seed: int) -> tuple[dict, dict]:
    counts = bootstrap_counts(len(Y), settings["n_resamples"], seed)  # the same resamples for every model
    scored, boot, seconds = {}, {}, 0.0
    for name, X in all_designs.items():
        fit = cross_validate(X, Y, settings["alphas"], settings["n_folds"])
        start = time.perf_counter()
        if settings["bootstrap"] == "refit":
            val, test = refit_bootstrap_scores(counts, X, Y, settings["alphas"], settings["n_folds"])
        else:
            val, test = bootstrap_scores(counts, Y, fit)
        seconds += time.perf_counter() - start
        boot[name] = test
        scored[name] = {"test_r": fit.test_r, "val_r": fit.val_r, "val_lcb": lower_bound(val, settings["confidence"]),
                        "test_lcb": lower_bound(test, settings["confidence"])}
    logger.info("%d events x %d targets: bootstrap of %d models x %d resamples in %.2f s", *Y.shape, len(all_designs),
                len(counts), seconds)
    return scored, boot


# --- rule seeg_sites ------------------------------------------------------------------------------


def electrode_regions(electrodes: pd.DataFrame, root: Path, atlas: dict | None) -> pd.Series:
    """The atlas label at each electrode (MNI mm), or a synthetic set's planted regions."""
    if atlas:
        image = nib.load(atlas["image"])
        labels = pd.read_csv(atlas["labels"], sep="\t").set_index("index")["name"]
        ijk = np.round(np.column_stack(coord_transform(*electrodes[["x", "y", "z"]].to_numpy().T,
                                                       np.linalg.inv(image.affine)))).astype(int)
        data = np.asarray(image.dataobj)
        inside = np.all((ijk >= 0) & (ijk < data.shape[:3]), axis=1)
        values = np.zeros(len(ijk), dtype=int)
        values[inside] = data[tuple(ijk[inside].T)]
        return pd.Series([labels.get(v, "unlabelled") for v in values], index=electrodes.index)
    truth_path = root / GROUND_TRUTH
    if not truth_path.exists():
        return pd.Series("unlabelled", index=electrodes.index)
    truth = json.loads(truth_path.read_text())["subjects"]
    return pd.Series([truth.get(s, {}).get("electrodes", {}).get(n, {}).get("region", "unlabelled")
                      for s, n in zip(electrodes["subject"], electrodes["electrode"])], index=electrodes.index)


def sites(*, scores, pvalues, brain, root, sites, regions, summary, settings: dict, atlas_image=None,
          atlas_labels=None) -> pd.DataFrame:
    """FDR per comparison, the wins, each electrode's class and region -> ``sites`` (parquet),
    ``regions`` (csv of counts per region) and ``summary`` (json). ``atlas_image`` and
    ``atlas_labels`` are seeg.atlas's files, inputs of the rule (read through ``settings``)."""
    score_table, p_table = pd.read_parquet(scores), pd.read_parquet(pvalues)
    models = read_models(settings)
    found = comparisons(models, settings["controlled_pair"])
    responsive = responsive_electrodes(score_table, list(models), settings["min_bins"])
    significant = significant_bins(p_table, score_table, responsive, settings["fdr_q"])
    site = classify(responsive, wins(significant, settings["min_bins"]), models, found)
    electrodes = pd.read_parquet(Path(brain) / "electrodes.parquet").rename(columns={"name": "electrode"})
    electrodes["region"] = electrode_regions(electrodes, Path(root), settings["atlas"])
    site = electrodes.merge(site, on=["subject", "electrode"], how="inner")
    peaks = best_models(score_table)
    trained = [name for name in peaks.columns if not name.endswith(RANDOM_SUFFIX)]
    site = site.merge(peaks.add_prefix("peak_r: ").reset_index(), on=["subject", "electrode"], how="left")
    site["best_model"] = peaks[trained].idxmax(axis=1).reindex(
        pd.MultiIndex.from_frame(site[["subject", "electrode"]])).to_numpy()
    counts = region_counts(site)
    n_sites, n_electrodes = int(site["multimodal"].sum()), len(site)
    write_parquet(sites, site)
    write_csv(regions, counts)
    write_json(summary, {
        "electrodes": n_electrodes, "responsive": int(site["responsive"].sum()), "multimodal": n_sites,
        "multimodal_strict": int(site["multimodal_strict"].sum()),
        "multimodal_share": n_sites / max(n_electrodes, 1),
        "categories": site["category"].value_counts().to_dict(),
        "paper": {"multimodal": PAPER_MULTIMODAL[0], "electrodes": PAPER_MULTIMODAL[1],
                  "multimodal_share": PAPER_MULTIMODAL[0] / PAPER_MULTIMODAL[1]},
    })
    return site
