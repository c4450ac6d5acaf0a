"""BrainSCUBA's rules, one function each.

* :func:`demo_pool` (rule ``brainscuba_demo_pool``): the demo's pool, the world's train-scene
  CLIP embeddings written as ``.npy`` shards (a real run lists its own shards instead);
* the encoder is rule ``brainscuba_encoder``: :func:`neurogaze.brain.encoding.fit` with
  BrainSCUBA's probe settings (``brainscuba.encoder``) on the captioner's backbone;
* :func:`project` (rule ``brainscuba_project``): the higher-visual voxels' weights projected onto
  the pool (streamed, resumable);
* :func:`caption` (rule ``brainscuba_caption``): ClipCap captions of the projections, the
  voxel-caption table, nouns per ROI, the share of person captions and the concept check;
* :func:`demo_pipeline` (rule ``brainscuba_demo_pipeline``): the demo's text-to-image pipeline,
  BrainDiVE's tiny one with its VAE fitted further and its UNet trained on the captioned set's
  images and captions;
* :func:`images` (rule ``brainscuba_images``): caption images from a diffusers text-to-image
  pipeline and unguided images (empty prompt) from the same seeds;
* :func:`evaluate` (rule ``brainscuba_evaluate``): predicted ROI activation of the caption images
  against the unguided ones, BrainDiVE's images and the dataset's top images.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from neurogaze.backbones.clipcap import ClipCapDecodingConfig, _open_captioner
from neurogaze.backbones.diffusion import (
    UNetFitConfig,
    VAEFitConfig,
    fit_unet,
    fit_vae,
    images_to_tensor,
    load_sd_pipeline,
    save_pipeline,
)
from neurogaze.brain.braindive import guidance
from neurogaze.brain.braindive.stages import _backbone, encoder_predictors
from neurogaze.brain.brainscuba import captions as words
from neurogaze.brain.brainscuba.projection import (
    ProjectionConfig,
    open_resume,
    open_shards,
    project_streamed,
    resume_key,
    voxel_directions,
)
from neurogaze.brain.encoding import load_encoder
from neurogaze.config import from_section, optional_section
from neurogaze.data.contracts import read_brain_responses, read_features, read_stimulus_set, write_metrics
from neurogaze.errors import DataValidationError
from neurogaze.io import atomic_directory, atomic_path, write_csv, write_parquet
from neurogaze.runlog import derive_seed, resolve_device

logger = logging.getLogger(__name__)

METHOD = "brainscuba"
UNGUIDED = "unguided"


@dataclass(frozen=True)
class ImageConfig:
    """``brainscuba.images``: caption -> image sampling. The paper's sampler settings were not
    found in its code; the defaults are Stable Diffusion 2.1 base's usual ones (DDIM-like 50 steps,
    classifier-free guidance 7.5, 512 px)."""

    n_per_roi: int = 8
    num_inference_steps: int = 50
    guidance_scale: float = 7.5
    height: int = 512
    width: int = 512
    batch_size: int = 8
    seed: int = 0


# ---------------------------------------------------------------------------------------------
# Pool and voxels
# ---------------------------------------------------------------------------------------------


def demo_pool(*, features, feature_ids, captions, pool, shard_size: int) -> None:
    """Rule ``brainscuba_demo_pool``: the train-split rows of ``features`` (the captioned set's
    image embeddings) as ``.npy`` shards of ``shard_size`` rows in ``pool``."""
    rows, ids = read_features(features)  # reads feature_ids, the .ids.txt beside it
    table = pd.read_parquet(captions)
    train = set(table.loc[table["split"] == "train", "stim_id"].astype(str))
    keep = np.array([stim_id in train for stim_id in ids])
    if not keep.any():
        raise DataValidationError(captions, "split", "train-split images for the pool", "none")
    chosen = np.asarray(rows[keep], dtype=np.float32)
    with atomic_directory(pool) as temp:
        for number, start in enumerate(range(0, len(chosen), shard_size)):
            np.save(temp / f"pool_{number:04d}.npy", chosen[start:start + shard_size])


def pool_files(pool) -> list[Path]:
    """The shard files of ``pool``: a list of ``.npy`` files, or a folder of them (sorted)."""
    paths = [pool] if isinstance(pool, str | Path) else list(pool)
    files = []
    for path in map(Path, paths):
        found = sorted(path.glob("*.npy")) if path.is_dir() else [path]
        if not found:
            raise DataValidationError(path, "pool", "a folder holding .npy shards", "none")
        files += found
    return files


def higher_visual_units(rois: dict[str, np.ndarray], include: str | None, exclude: list[str], source) -> np.ndarray:
    """Columns of the responses in ``include`` (None: every unit) and in none of ``exclude``: the
    paper's higher visual cortex is nsdgeneral minus the early visual areas of prf-visualrois."""
    for name in [include, *exclude]:
        if name is not None and name not in rois:
            raise DataValidationError(source, f"rois/{name}", f"an ROI mask (have {sorted(rois)})", "missing")
    n_units = len(next(iter(rois.values())))
    keep = np.ones(n_units, bool) if include is None else np.asarray(rois[include], bool).copy()
    for name in exclude:
        keep &= ~np.asarray(rois[name], bool)
    if not keep.any():
        raise DataValidationError(source, "rois", f"voxels in {include} outside {exclude}", "none")
    return np.flatnonzero(keep)


def sample_units(units: np.ndarray, rois: dict[str, np.ndarray], keep: list[str], max_others: int | None,
                 seed: int) -> np.ndarray:
    """Every unit of the ROIs ``keep`` and, of the others, all or a seeded sample of ``max_others``."""
    inside = np.zeros(len(next(iter(rois.values()))), bool)
    for name in keep:
        if name in rois:
            inside |= np.asarray(rois[name], bool)
    chosen, others = units[inside[units]], units[~inside[units]]
    if max_others is not None and len(others) > max_others:
        rng = np.random.default_rng(derive_seed(seed, METHOD, "voxels"))
        others = rng.choice(others, size=max_others, replace=False)
    return np.sort(np.concatenate([chosen, others]))


def project(*, encoder, responses, pool, projection, settings: dict, selection: dict, rois: list[str], seed: int,
            dataset: str, subject: str) -> None:
    """Rule ``brainscuba_project``: each selected voxel's encoder weight projected onto the pool
    (``settings``: ``brainscuba.projection``); writes ``projection`` (npz: unit, embedding). The
    voxels are those of :func:`higher_visual_units`; with ``selection['max_others']`` every voxel
    of the category ROIs ``rois`` and a seeded sample of that many others. The state after each
    shard is kept in ``<projection>.resume/`` until the projection is written."""
    config = from_section(ProjectionConfig, settings, "brainscuba.projection")
    brain = read_brain_responses(responses)
    units = higher_visual_units(brain.rois, selection.get("include"), list(selection.get("exclude") or []),
                                responses)
    units = sample_units(units, brain.rois, rois, selection.get("max_others"), seed)
    coef = np.asarray(load_encoder(encoder).coef_)
    if coef.shape[0] != brain.n_units:
        raise DataValidationError(encoder, "coef_", f"one row per unit of the responses ({brain.n_units})", coef.shape)
    files = pool_files(pool)
    shards = open_shards(files)
    voxel_directions(coef[units], encoder)  # a zero weight row is refused before the resume folder is made
    resume = Path(f"{projection}.resume")
    open_resume(resume, resume_key(encoder, files, config, units))
    embedded = project_streamed(coef[units], shards, config, resume=resume, progress=True, weights_source=encoder)
    with atomic_path(projection) as temp, open(temp, "wb") as handle:
        np.savez(handle, unit=units.astype(np.int64), embedding=embedded.astype(np.float32))
    shutil.rmtree(resume)


def read_projection(path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path) as data:
            return data["unit"], data["embedding"]
    except (OSError, KeyError, ValueError) as exc:
        raise DataValidationError(path, "projection", "an npz with unit and embedding (rule brainscuba_project)",
                                  exc) from exc


# ---------------------------------------------------------------------------------------------
# Captions
# ---------------------------------------------------------------------------------------------


def caption(*, projection, responses, captioner, captions, nouns, person, concepts, settings: dict,
            device: str, dataset: str, subject: str, gpt2=None) -> pd.DataFrame:
    """Rule ``brainscuba_caption``: ClipCap's caption of every projected embedding (``settings``:
    ``decoding`` as ClipCap's, ``nouns``, ``person_words``, ``rois``, ``concepts``).

    Writes ``captions`` (parquet: the voxel-caption table), ``nouns`` (csv: noun frequencies per
    ROI of ``settings['rois']``), ``person`` (csv: the share of person captions per ROI) and
    ``concepts`` (csv: per planted concept ROI, the rate of captions naming its words inside and
    outside the ROI). A captioner whose prefix size is not the projection's width is refused
    before anything is written.
    """
    decoding = from_section(ClipCapDecodingConfig, settings["decoding"], "brainscuba.decoding")
    extractor = words.noun_extractor(from_section(words.NounConfig, settings["nouns"], "brainscuba.nouns"))
    units, embedded = read_projection(projection)
    brain = read_brain_responses(responses)
    rois = [name for name in settings["rois"] if name in brain.rois]
    model = _open_captioner(captioner, gpt2, embedded.shape[1], settings, resolve_device(device))
    if model.prefix_size != embedded.shape[1]:
        raise DataValidationError(captioner, "prefix_size", f"{embedded.shape[1]} (the projected embeddings' width, "
                                  f"{projection})", model.prefix_size)
    texts = model.caption(embedded, beam_size=decoding.beam_size, max_tokens=decoding.max_tokens,
                          stop_token=decoding.stop_token, temperature=decoding.temperature,
                          batch_size=decoding.batch_size)
    table = words.voxel_caption_table(units, texts, [extractor(text) for text in texts], brain.rois,
                                      settings["person_words"])
    concept_words = {roi: list(listed) for roi, listed in (settings["concepts"] or {}).items() if roi in brain.rois}
    rates = words.concept_rates(table, concept_words)
    write_parquet(captions, table)
    write_csv(nouns, words.noun_frequencies(table, rois))
    write_csv(person, words.person_share(table, rois))
    write_csv(concepts, rates)
    for row in rates.itertuples():
        logger.info("BrainSCUBA %s: captions naming %s: %.3f of %d ROI voxels, %.3f of %d others", row.roi,
                    row.words, row.rate_in, row.n_in, row.rate_out, row.n_out)
    return table


def read_caption_table(path) -> pd.DataFrame:
    table = pd.read_parquet(path)
    for column in ("unit", "caption", "nouns", "person"):
        if column not in table.columns:
            raise DataValidationError(path, column, "the voxel-caption table of rule brainscuba_caption", "missing")
    return table


# ---------------------------------------------------------------------------------------------
# Caption images
# ---------------------------------------------------------------------------------------------


def train_captions(captions, stimulus_set) -> tuple[list[str], list[list[str]]]:
    """The train-split images of the captions table and each one's captions (in caption order),
    checked against the ``stimulus_set`` (a read StimulusSet) that holds the images."""
    table = pd.read_parquet(captions)
    for column in ("stim_id", "caption_id", "caption", "split"):
        if column not in table.columns:
            raise DataValidationError(captions, column, "a column of the captions table (rule load_coco)", "missing")
    train = table[table["split"] == "train"].sort_values(["stim_id", "caption_id"])
    if train.empty:
        raise DataValidationError(captions, "split", "train-split captions to fit the pipeline on", "none")
    grouped = train.groupby("stim_id", sort=True)["caption"].agg(list)
    missing = sorted(set(grouped.index) - set(stimulus_set.stim_ids))
    if missing:
        raise DataValidationError(stimulus_set.root, "stim_id", f"every captioned image of {captions}",
                                  f"{missing[0]} missing")
    return list(grouped.index), list(grouped.to_numpy())


def demo_pipeline(*, base, stimuli, captions, pipeline, settings: dict) -> None:
    """Rule ``brainscuba_demo_pipeline``: the demo's text-to-image folder ``pipeline``. It starts
    from BrainDiVE's demo pipeline ``base`` (a VAE fitted on the NSD stimuli and a UNet that learned
    their latents under the empty prompt), fits its VAE further on the captioned set's train images
    (``settings['vae_fit']``, :class:`VAEFitConfig`; null keeps the base's) and then trains the UNet
    on their latents, each conditioned on one of its captions or, for a share, on the empty prompt
    (``settings['unet_fit']``, :class:`UNetFitConfig`): without it no caption word could change an
    image."""
    vae_config = optional_section(VAEFitConfig, settings.get("vae_fit"), "brainscuba.demo_pipeline.vae_fit")
    unet_config = from_section(UNetFitConfig, settings.get("unet_fit", {}), "brainscuba.demo_pipeline.unet_fit")
    stimulus_set = read_stimulus_set(stimuli)
    ids, texts = train_captions(captions, stimulus_set)
    pipe = load_sd_pipeline(base)
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    images = images_to_tensor([image for _, image in stimulus_set.iter_images(ids)], size)
    record = {}
    if vae_config is not None:
        # the base's VAE had a few hundred steps on the NSD stimuli: enough for BrainDiVE to move
        # colour, not to draw a face the encoder still reads as one (world-clip's face-ROI
        # prediction of the world's large-face scenes fell from 0.41 to 0.09 through it)
        trace = fit_vae(pipe.vae, images, vae_config, progress=True)
        logger.info("VAE fit: loss %.4f -> %.4f", trace["loss"][0], trace["loss"][-1])
        record["vae_fit"] = {**asdict(vae_config), "n_images": len(ids), "final_loss": trace["loss"][-1]}
    trace = fit_unet(pipe, images, unet_config, progress=True, captions=texts)
    logger.info("caption fit: loss %.4f -> %.4f over %d images", trace["loss"][0], trace["loss"][-1], len(ids))
    record["caption_fit"] = {**asdict(unet_config), "n_images": len(ids), "final_loss": trace["loss"][-1]}
    base_record = Path(base) / "neurogaze.json"
    provenance = {"base": json.loads(base_record.read_text()) if base_record.is_file() else str(base), **record}
    save_pipeline(pipe, pipeline, provenance)


def image_seeds(config: ImageConfig) -> list[int]:
    """One seed per image, the same for every ROI and for the unguided control."""
    return [derive_seed(config.seed, METHOD, "image", str(index)) for index in range(config.n_per_roi)]


def chosen_voxels(table: pd.DataFrame, roi: str, n: int, seed: int, source=None) -> pd.DataFrame:
    """``n`` of the ROI's captioned voxels (all when fewer), drawn with a seed of the ROI."""
    inside = table[table[f"roi_{roi}"]].sort_values("unit")
    if inside.empty:
        raise DataValidationError(source, f"roi_{roi}", "captioned voxels in the ROI (brainscuba.image_rois)", "none")
    rng = np.random.default_rng(derive_seed(seed, METHOD, "voxels", roi))
    take = rng.choice(len(inside), size=min(n, len(inside)), replace=False)
    return inside.iloc[np.sort(take)]


def render(pipe, prompts: list[str], seeds: list[int], config: ImageConfig) -> np.ndarray:
    """uint8 images of ``prompts``, one seed each (a CPU generator per image: the same start on
    any device and batch size)."""
    out = []
    for start in range(0, len(prompts), config.batch_size):
        generators = [torch.Generator().manual_seed(seed) for seed in seeds[start:start + config.batch_size]]
        result = pipe(prompt=prompts[start:start + config.batch_size], generator=generators,
                      num_inference_steps=config.num_inference_steps, guidance_scale=config.guidance_scale,
                      height=config.height, width=config.width, output_type="np")
        out.append((np.clip(result.images, 0, 1) * 255).round().astype(np.uint8))
    return np.concatenate(out)


def images(*, captions, pipeline, images, settings: dict, rois: list[str], device: str, dataset: str,
           subject: str) -> pd.DataFrame:
    """Rule ``brainscuba_images``: for each ROI of ``rois``, images of the captions of
    ``n_per_roi`` of its voxels and, from the same seeds, unguided images (the empty prompt), from
    the diffusers folder ``pipeline``; writes ``images`` (``<roi>/<i>.png``, ``unguided/<i>.png``,
    ``index.csv``: roi, condition, image, seed, unit, caption, path)."""
    config = from_section(ImageConfig, settings, "brainscuba.images")
    table = read_caption_table(captions)
    seeds = image_seeds(config)
    chosen = {}
    for roi in rois:  # every ROI is checked before the pipeline is loaded
        if f"roi_{roi}" not in table:
            raise DataValidationError(captions, f"roi_{roi}", "a column of the caption table", "missing")
        chosen[roi] = chosen_voxels(table, roi, config.n_per_roi, config.seed, captions)
    pipe = load_sd_pipeline(pipeline, device=resolve_device(device))
    control = render(pipe, [""] * len(seeds), seeds, config)
    rows, drawn = [], {}
    for roi, voxels in chosen.items():
        texts = voxels["caption"].astype(str).tolist()
        drawn[roi] = render(pipe, texts, seeds[:len(texts)], config)
        for number, (unit, text) in enumerate(zip(voxels["unit"], texts)):
            rows.append({"roi": roi, "condition": "caption", "image": number, "seed": seeds[number], "unit": int(unit),
                         "caption": text, "path": f"{guidance.roi_folder(roi)}/{number:03d}.png"})
    for number, seed in enumerate(seeds):
        rows.append({"roi": "", "condition": UNGUIDED, "image": number, "seed": seed, "unit": -1, "caption": "",
                     "path": f"{UNGUIDED}/{number:03d}.png"})
    index = pd.DataFrame(rows)
    with atomic_directory(images) as temp:
        (temp / UNGUIDED).mkdir()
        for number, image in enumerate(control):
            Image.fromarray(image).save(temp / UNGUIDED / f"{number:03d}.png")
        for roi, batch in drawn.items():
            (temp / guidance.roi_folder(roi)).mkdir()
            for number, image in enumerate(batch):
                Image.fromarray(image).save(temp / guidance.roi_folder(roi) / f"{number:03d}.png")
        index.to_csv(temp / "index.csv", index=False, lineterminator="\n")
        (temp / "config.json").write_text(json.dumps(asdict(config), indent=2, sort_keys=True) + "\n")
    return index


def read_images(folder) -> tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]]:
    folder = Path(folder)
    index_path = folder / "index.csv"
    if not index_path.is_file():
        raise DataValidationError(index_path, "index.csv", "the index of rule brainscuba_images", "missing")
    index = pd.read_csv(index_path, keep_default_na=False)
    drawn = {}
    for key, rows in index.sort_values("image").groupby(["roi", "condition"], sort=True):
        drawn[key] = np.stack([np.asarray(Image.open(folder / path).convert("RGB")) for path in rows["path"]])
    return index, drawn


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def _braindive_images(folder, roi: str) -> np.ndarray | None:
    """BrainDiVE's kept (top-ranked) guided images of ``roi``, when its synthesis has the ROI."""
    index, drawn = guidance.read_synthesis(folder)
    if (roi, "guided") not in drawn:
        return None
    rows = index[(index["roi"] == roi) & (index["condition"] == "guided")].sort_values("image")
    return drawn[(roi, "guided")][rows["selected"].to_numpy(bool)]


def _rows(roi: str, values: dict[str, float], dataset: str, seed: int) -> list[dict]:
    return [{"method": METHOD, "dataset": dataset, "unit": roi, "metric": name, "value": float(value),
             "split": "generated", "seed": seed} for name, value in values.items()]


def evaluate(*, images, encoder, responses, stimuli, backbone, metrics, backbone_spec: dict, device: str,
             dataset: str, subject: str, seed: int, braindive=None) -> pd.DataFrame:
    """Rule ``brainscuba_evaluate``: the encoder's predicted ROI mean of the caption images against
    the unguided images from the same seeds (paired change, SD units, one-sided Wilcoxon p),
    BrainDiVE's kept images of the ROI (``braindive``: its synthesis folder, optional) and the
    dataset's top training images (as many as caption images)."""
    index, drawn = read_images(images)
    rois = sorted({roi for roi, condition in drawn if condition == "caption"})
    brain = read_brain_responses(responses)
    masks = {roi: np.asarray(brain.rois[roi], bool) for roi in rois}
    model = _backbone(backbone_spec, backbone, resolve_device(device)).model
    predictors = encoder_predictors(encoder, model, masks, brain.n_units)
    stimulus_set = read_stimulus_set(stimuli)
    _, train_ids = brain.select("train")
    train_images = np.stack([image for _, image in stimulus_set.iter_images(list(train_ids))])
    unguided = drawn[("", UNGUIDED)]
    rows = []
    for roi in rois:
        shown = drawn[(roi, "caption")]
        caption_pred = guidance.predict_images(predictors[roi], shown)
        control_pred = guidance.predict_images(predictors[roi], unguided[:len(shown)])
        test = guidance.paired_attribute_test(caption_pred, control_pred)
        values = {"caption_mean": test["guided_mean"], "unguided_mean": test["unguided_mean"],
                  "change": test["change"], "change_sd_units": test["change_sd_units"],
                  "p_wilcoxon": test["p_wilcoxon"], "n_images": len(shown)}
        top = guidance.dataset_top(predictors[roi], train_images, np.asarray(train_ids), len(shown))
        values["dataset_top_mean"] = float(top["predicted"].mean())
        if braindive is not None:
            kept = _braindive_images(braindive, roi)
            if kept is not None and len(kept):
                values["braindive_mean"] = float(guidance.predict_images(predictors[roi], kept).mean())
        rows += _rows(roi, values, f"{dataset}/{subject}", seed)
    table = pd.DataFrame(rows)
    write_metrics(metrics, table)
    return table


__all__ = ["ImageConfig", "caption", "demo_pipeline", "demo_pool", "evaluate", "higher_visual_units", "images",
           "pool_files", "project", "read_caption_table", "read_images", "read_projection"]
