"""Synthetic eye-tracking data sets, written in the layouts of the real ones, on the demo world.

Every image is a scene of the demo world (``neurogaze.data.synthetic.world``): named objects on a
place, with the world's captions, so what people look at is something with a name.

* :func:`generate_osie_like`: free viewing. The saliency map of each scene is a known mixture of
  Gaussians, one on each object's box, plus a central bias, and every fixation is drawn from that
  map. Written as OSIE's ``data/eye/fixations.mat`` + ``data/stimuli/*.jpg``.
* :func:`generate_capmit1003_like`: captioning. Each observer writes one of the scene's captions
  and clicks, in the caption's order, on the objects it names (and now and then near the centre).
  Written as CapMIT1003's ``capmit1003.db`` (captions, images, clicks) + ``ALLSTIMULI/``.
* :func:`generate_cocosearch_like`: target search. The target (an object of the task's noun)
  sits at a known box in target-present images among objects of other nouns; each saccade lands
  on the target with probability ``guidance`` (else on a random distractor) and the search stops
  on the target. Written as COCO-Search18 JSON + ``images/<task>/<name>.jpg``.
* :func:`generate_eyelink_like`: raw 500 Hz traces with known fixations (jitter and drift) on
  the objects of world scenes and minimum-jerk saccades on the main sequence, with the EyeLink
  parser's events, as ``.asc`` files + ``images/``.

Each writes ``ground_truth.json`` with every planted quantity and parameter (each image's
objects with nouns and boxes, and its captions). Same config and seed give byte-identical files.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from neurogaze.config import from_section
from neurogaze.data.synthetic import world
from neurogaze.io import atomic_directory, write_mat

GROUND_TRUTH = "ground_truth.json"
JPEG_QUALITY = 90


def _save_jpeg(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(np.round(image), 0, 255).astype(np.uint8)).save(path, quality=JPEG_QUALITY)


def _write_ground_truth(folder: Path, payload: dict) -> None:
    (folder / GROUND_TRUTH).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def _world_scene(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, dict]:
    """A scene of the demo world at ``width`` x ``height`` with its objects and captions."""
    return world.scene(rng, world.WorldConfig(), width, height)


def _object_blobs(objects: list[dict], sigma_frac: float, rng: np.random.Generator) -> list[dict]:
    """One Gaussian of the saliency map per object: at its box's centre, with an SD of
    ``sigma_frac`` of the box's (geometric-mean) side, and a random weight."""
    blobs = []
    for obj in objects:
        x, y, width, height = obj["bbox"]
        blobs.append({"noun": obj["noun"], "x": round(x + width / 2, 2), "y": round(y + height / 2, 2),
                      "sigma": round(sigma_frac * math.sqrt(width * height), 3),
                      "weight": round(float(rng.uniform(0.5, 1.0)), 4)})
    return blobs


# ---------------------------------------------------------------------------------------------
# Free viewing on a known saliency map (OSIE layout)
# ---------------------------------------------------------------------------------------------


@dataclass
class SyntheticOsieConfig:
    n_images: int = 6
    n_subjects: int = 15
    width: int = 160
    height: int = 160
    object_sigma_frac: float = 0.3  # Gaussian SD as a fraction of the object's box side
    center_bias_weight: float = 0.2  # share of fixations drawn from the central Gaussian
    fixations_per_subject: int = 10
    duration_shape: float = 4.0  # gamma-distributed durations (mean shape * scale ms)
    duration_scale_ms: float = 60.0
    seed: int = 0


def saliency_map(entry: dict, width: int, height: int) -> np.ndarray:
    """The planted density of one image from its ground-truth entry (sums to 1)."""
    yy, xx = np.mgrid[:height, :width] + 0.5
    density = np.zeros((height, width))
    for blob in entry["blobs"]:
        density += blob["weight"] * np.exp(-((xx - blob["x"]) ** 2 + (yy - blob["y"]) ** 2) / (2 * blob["sigma"] ** 2))
    centre = entry["center_bias"]
    bias = np.exp(
        -((xx - width / 2) ** 2 / (2 * centre["sigma_x"] ** 2) + (yy - height / 2) ** 2 / (2 * centre["sigma_y"] ** 2))
    )
    density = density / density.sum() * (1 - centre["weight"]) + bias / bias.sum() * centre["weight"]
    return density / density.sum()


def _sample_points(rng, entry, n, width, height):
    """Draw ``n`` fixations from the mixture; redraw the rare points that fall off the image."""
    points = []
    weights = np.asarray([b["weight"] for b in entry["blobs"]])
    weights = weights / weights.sum()
    centre = entry["center_bias"]
    while len(points) < n:
        if rng.random() < centre["weight"]:
            x = rng.normal(width / 2, centre["sigma_x"])
            y = rng.normal(height / 2, centre["sigma_y"])
        else:
            blob = entry["blobs"][int(rng.choice(len(weights), p=weights))]
            x, y = rng.normal(blob["x"], blob["sigma"]), rng.normal(blob["y"], blob["sigma"])
        x, y = round(x, 1), round(y, 1)  # rounded first: 159.96 would become 160.0, off a 160 px image
        if 0 <= x < width and 0 <= y < height:
            points.append((x, y))
    return np.asarray(points)


def _scene_entry(rng, name: str, width: int, height: int, sigma_frac: float, center_bias_weight: float):
    """(image, ground-truth entry) of one free-viewing scene: its objects, captions and saliency."""
    image, content = _world_scene(rng, width, height)
    entry = {
        "img": name,
        **content,
        "blobs": _object_blobs(content["objects"], sigma_frac, rng),
        "center_bias": {"weight": center_bias_weight, "sigma_x": width / 4, "sigma_y": height / 4},
    }
    return image, entry


def generate_osie_like(out_dir: str | os.PathLike, config: SyntheticOsieConfig) -> dict:
    rng = np.random.default_rng(config.seed)
    w, h = config.width, config.height
    cells, truth_images = [], []
    with atomic_directory(out_dir) as temp:
        for number in range(config.n_images):
            name = f"{1001 + number}.jpg"
            image, entry = _scene_entry(rng, name, w, h, config.object_sigma_frac, config.center_bias_weight)
            _save_jpeg(image, temp / "data" / "stimuli" / name)
            subjects = []
            for _ in range(config.n_subjects):
                points = _sample_points(rng, entry, config.fixations_per_subject, w, h)
                durations = np.round(rng.gamma(config.duration_shape, config.duration_scale_ms, size=len(points)))
                subjects.append({"fix_x": points[:, 0], "fix_y": points[:, 1], "fix_duration": durations})
            cells.append({"img": name, "subjects": _cell(subjects)})
            truth_images.append(entry)
        (temp / "data" / "eye").mkdir(parents=True)
        write_mat(temp / "data" / "eye" / "fixations.mat", {"fixations": _cell(cells)}, do_compression=True)
        truth = {
            "generator": "osie_like",
            "config": asdict(config),
            "images": truth_images,
            "n_fixations": config.n_images * config.n_subjects * config.fixations_per_subject,
        }
        _write_ground_truth(temp, truth)
    return truth


def _cell(items: list) -> np.ndarray:
    """A MATLAB cell array (column) of structs for scipy.io.savemat."""
    cell = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        cell[i, 0] = item
    return cell


# ---------------------------------------------------------------------------------------------
# Captions with click paths on the objects they name (CapMIT1003 layout)
# ---------------------------------------------------------------------------------------------


@dataclass
class SyntheticCapmitConfig:
    n_images: int = 20
    n_subjects: int = 5
    width: int = 160
    height: int = 160
    clicks_per_caption: int = 6
    landing_sd_frac: float = 0.2  # click error around an object's centre, as a fraction of its box side
    center_click_probability: float = 0.15  # a click near the centre instead of on the next object
    click_interval_ms: tuple[float, float] = (400.0, 1200.0)  # uniform range between clicks
    seed: int = 0


START_TIME = datetime.datetime(2022, 1, 1, 9, 0, 0)


def _mention_order(objects: list[dict], caption: str) -> list[dict]:
    """The scene's objects in the order the caption names them (by noun, or by category for the
    grammar's category captions such as 'a face on grass')."""
    def first_mention(obj):
        words = caption.rstrip(".").split()
        for word in (world.PHRASES.get(obj["noun"], obj["noun"]).split()[-1], obj["noun"], obj["category"]):
            if word in words:
                return words.index(word)
        return len(words)

    return sorted(objects, key=first_mention)


def _click_path(rng, config: SyntheticCapmitConfig, objects: list[dict]) -> list[tuple[float, float]]:
    centre = (config.width / 2, config.height / 2)
    clicks = []
    for k in range(config.clicks_per_caption):
        if rng.random() < config.center_click_probability:
            x, y, sd = centre[0], centre[1], 0.1 * min(config.width, config.height)
        else:
            bx, by, bw, bh = objects[k % len(objects)]["bbox"]
            x, y, sd = bx + bw / 2, by + bh / 2, config.landing_sd_frac * math.sqrt(bw * bh)
        clicks.append((round(float(np.clip(rng.normal(x, sd), 0, config.width - 1)), 1),
                       round(float(np.clip(rng.normal(y, sd), 0, config.height - 1)), 1)))
    return clicks


def generate_capmit1003_like(out_dir: str | os.PathLike, config: SyntheticCapmitConfig) -> dict:
    rng = np.random.default_rng(config.seed)
    tables: dict[str, list[tuple]] = {"images": [], "captions": [], "clicks": []}
    truth_images, observation, click_id = [], 0, 0
    with atomic_directory(out_dir) as temp:
        for number in range(config.n_images):
            name = f"i{number + 1:04d}.jpeg"
            image, content = _world_scene(rng, config.width, config.height)
            _save_jpeg(image, temp / "ALLSTIMULI" / name)
            tables["images"].append((number + 1, name))
            observers = []
            for subject in range(1, config.n_subjects + 1):
                observation += 1
                caption = content["captions"][int(rng.integers(len(content["captions"])))]
                start = START_TIME + datetime.timedelta(minutes=observation)
                tables["captions"].append((observation, f"u{subject:02d}", start.isoformat(sep=" "), caption,
                                           number + 1))
                elapsed = 0.0
                for x, y in _click_path(rng, config, _mention_order(content["objects"], caption)):
                    click_id += 1
                    elapsed += float(rng.uniform(*config.click_interval_ms))
                    when = start + datetime.timedelta(milliseconds=round(elapsed))
                    tables["clicks"].append((click_id, observation, x, y, when.isoformat(sep=" ")))
                observers.append({"subject": f"u{subject:02d}", "caption": caption})
            truth_images.append({"img": name, **content, "observers": observers})
        _write_capmit_database(temp / "capmit1003.db", tables)
        truth = {"generator": "capmit1003_like", "config": asdict(config), "images": truth_images,
                 "n_clicks": click_id}
        _write_ground_truth(temp, truth)
    return truth


def _write_capmit_database(path: Path, tables: dict[str, list[tuple]]) -> None:
    columns = {"images": "img_uid INTEGER PRIMARY KEY, img_path TEXT",
               "captions": "obs_uid INTEGER PRIMARY KEY, usr_uid TEXT, start_time TEXT, caption TEXT, img_uid INTEGER",
               "clicks": "click_id INTEGER PRIMARY KEY, obs_uid INTEGER, x REAL, y REAL, click_time TEXT"}
    connection = sqlite3.connect(path)
    try:
        for name, schema in columns.items():
            connection.execute(f"CREATE TABLE {name} ({schema})")
            marks = ", ".join("?" * len(tables[name][0]))
            connection.executemany(f"INSERT INTO {name} VALUES ({marks})", tables[name])
        connection.commit()
    finally:
        connection.close()


# ---------------------------------------------------------------------------------------------
# Target-guided search (COCO-Search18 layout)
# ---------------------------------------------------------------------------------------------

@dataclass
class SyntheticCocoSearchConfig:
    tasks: tuple[str, ...] = ("face", "cat", "coffee")
    n_images_per_task: int = 3
    n_subjects: int = 4
    width: int = 168
    height: int = 105
    absent_fraction: float = 0.34
    guidance: float = 0.6  # probability that a saccade lands on the target (present trials)
    n_distractors: int = 5
    object_radius_frac: float = 0.06  # half the object's longer side, as a fraction of the image width
    max_fixations: int = 8
    landing_sd_frac: float = 0.01  # landing error around an object centre
    duration_shape: float = 4.0
    duration_scale_ms: float = 55.0
    seed: int = 0


def _search_objects(rng, task: str, present: bool, centres, radius: float) -> list[dict]:
    """The target (the task's noun, if present) at ``centres[0]`` and distractors of other nouns,
    each with a box whose longer side is the object diameter."""
    others = [noun for noun in world.OBJECTS if noun != task]
    objects = []
    for k, (cx, cy) in enumerate(centres):
        noun = task if (present and k == 0) else others[int(rng.integers(len(others)))]
        colour = str(rng.choice(list(world.COLOURS))) if noun in world.SHAPES else None
        height, width = world.box_shape(noun, max(4, round(2 * radius)))
        bbox = [round(cx - width / 2), round(cy - height / 2), width, height]
        objects.append({"noun": noun, "category": world.OBJECTS[noun][0], "colour": colour,
                        "x": round(cx, 2), "y": round(cy, 2), "bbox": bbox})
    return objects


def generate_cocosearch_like(out_dir: str | os.PathLike, config: SyntheticCocoSearchConfig) -> dict:
    unknown = sorted(set(config.tasks) - set(world.OBJECTS))
    if unknown:
        raise ValueError(f"synthetic search tasks must be nouns of the demo world {sorted(world.OBJECTS)}, "
                         f"got {unknown}")
    rng = np.random.default_rng(config.seed)
    w, h = config.width, config.height
    radius = config.object_radius_frac * w
    trials_by_condition: dict[str, list] = {"TP": [], "TA": []}
    truth_images = []
    with atomic_directory(out_dir) as temp:
        for task in config.tasks:
            for number in range(config.n_images_per_task):
                present = bool(rng.random() >= config.absent_fraction)
                name = f"{task.replace(' ', '')}{number:04d}.jpg"
                place = str(rng.choice(list(world.BACKGROUNDS)))
                centres = _spread_points(rng, config.n_distractors + 1, w, h, radius)
                objects = _search_objects(rng, task, present, centres, radius)
                image = world.paint_objects(world.background(place, w, h, rng), objects, rng)
                _save_jpeg(image, temp / "images" / task / name)
                bbox = [
                    round(centres[0][0] - radius),
                    round(centres[0][1] - radius),
                    round(2 * radius),
                    round(2 * radius),
                ]
                truth_images.append({"name": name, "task": task, "present": present, "bbox": bbox,
                                     "background": place, "objects": objects})
                for subject in range(1, config.n_subjects + 1):
                    trial = _search_trial(rng, config, objects, present, w, h, radius)
                    trial.update(
                        {
                            "name": name,
                            "subject": subject,
                            "task": task,
                            "bbox": bbox,
                            "split": "train" if number < config.n_images_per_task - 1 else "valid",
                        }
                    )
                    trials_by_condition["TP" if present else "TA"].append(trial)
        for condition, trials in trials_by_condition.items():
            if trials:
                path = temp / f"coco_search18_fixations_{condition}_synthetic.json"
                path.write_text(json.dumps(trials, indent=1) + "\n")
        truth = {
            "generator": "cocosearch_like",
            "config": asdict(config),
            "images": truth_images,
            "n_fixations": sum(t["length"] for ts in trials_by_condition.values() for t in ts),
        }
        _write_ground_truth(temp, truth)
    return truth


def _spread_points(rng, n, width, height, radius, tries=200):
    """Object centres inside the image that do not overlap (two radii apart, by rejection)."""
    points = []
    margin = radius + 1
    for _ in range(tries * n):
        if len(points) == n:
            break
        p = (float(rng.uniform(margin, width - margin)), float(rng.uniform(margin, height - margin)))
        if all(math.dist(p, q) > 2.5 * radius for q in points) and math.dist(p, (width / 2, height / 2)) > 2 * radius:
            points.append(p)
    if len(points) < n:
        raise ValueError("synthetic search image too small for its objects; lower n_distractors or object_radius_frac")
    return points


def _search_trial(rng, config, objects, present, w, h, radius):
    x, y = [w / 2], [h / 2]  # COCO-Search18 scanpaths start with the central fixation
    found = False
    while len(x) < config.max_fixations and not found:
        if present and rng.random() < config.guidance:
            target = objects[0]
            found = True
        else:
            target = objects[1 + int(rng.integers(len(objects) - 1))]
        sd = config.landing_sd_frac * w
        x.append(float(np.clip(rng.normal(target["x"], sd), 0, w - 1)))
        y.append(float(np.clip(rng.normal(target["y"], sd), 0, h - 1)))
    durations = np.round(rng.gamma(config.duration_shape, config.duration_scale_ms, size=len(x))).astype(int)
    on_target = present and math.dist((x[-1], y[-1]), (objects[0]["x"], objects[0]["y"])) <= radius * 1.5
    return {
        "X": [round(v, 2) for v in x],
        "Y": [round(v, 2) for v in y],
        "T": durations.tolist(),
        "length": len(x),
        "condition": "present" if present else "absent",
        "fixOnTarget": bool(on_target),
        "correct": int(found or not present),
        "RT": int(durations.sum()),
    }


# ---------------------------------------------------------------------------------------------
# Raw traces with known fixations and saccades (EyeLink ASC layout)
# ---------------------------------------------------------------------------------------------


@dataclass
class SyntheticEyelinkConfig:
    n_subjects: int = 2
    n_trials: int = 3
    display: tuple[int, int] = (1024, 768)
    screen_size_m: tuple[float, float] = (0.38, 0.30)
    distance_m: float = 0.67
    image_width: int = 640
    image_height: int = 480
    rate_hz: float = 500.0
    n_fixations: int = 8
    fixation_ms: tuple[float, float] = (150.0, 450.0)  # uniform range of fixation durations
    jitter_deg: float = 0.03  # per-sample tracker noise (SD)
    drift_deg_s: float = 0.3  # slow drift speed within a fixation
    seed: int = 0
    saliency: dict = field(default_factory=lambda: {"object_sigma_frac": 0.3, "center_bias_weight": 0.2})


def _deg_per_px(config: SyntheticEyelinkConfig) -> float:
    per_axis = [
        math.degrees(2 * math.atan(s / 2 / config.distance_m)) / r for s, r in zip(config.screen_size_m, config.display)
    ]
    return float(np.mean(per_axis))


def _minimum_jerk(n: int) -> np.ndarray:
    tau = np.linspace(0, 1, n)
    return 10 * tau**3 - 15 * tau**4 + 6 * tau**5


def _trial_trace(rng, config, entry, offset):
    """Samples (t, x, y in screen px) and the planted events of one trial."""
    dt = 1000.0 / config.rate_hz
    deg = _deg_per_px(config)
    targets = _sample_points(rng, entry, config.n_fixations, config.image_width, config.image_height) + offset
    t0 = 1_000_000.0 + float(rng.integers(0, 1000))
    ts, xs, ys, events = [], [], [], []
    t = t0
    position = targets[0]
    for k, target in enumerate(targets):
        if k > 0:
            amplitude = math.dist(position, target) * deg
            duration = 2.2 * amplitude + 21.0  # main sequence (Carpenter 1988)
            n = max(int(round(duration / dt)), 3)
            path = position + _minimum_jerk(n)[:, None] * (target - position)
            start = t
            for px, py in path:
                ts.append(t)
                xs.append(px)
                ys.append(py)
                t += dt
            events.append(
                {"type": "saccade", "start": start, "end": t - dt, "from": position.tolist(), "to": target.tolist()}
            )
        n = int(round(rng.uniform(*config.fixation_ms) / dt))
        direction = rng.uniform(0, 2 * np.pi)
        drift = config.drift_deg_s / deg * dt / 1000.0 * np.arange(n)
        fx = target[0] + drift * np.cos(direction) + rng.normal(0, config.jitter_deg / deg, n)
        fy = target[1] + drift * np.sin(direction) + rng.normal(0, config.jitter_deg / deg, n)
        start = t
        for px, py in zip(fx, fy):
            ts.append(t)
            xs.append(px)
            ys.append(py)
            t += dt
        events.append({"type": "fixation", "start": start, "end": t - dt, "x": float(fx.mean()), "y": float(fy.mean())})
        position = np.asarray([fx[-1], fy[-1]])
    return np.asarray(ts), np.asarray(xs), np.asarray(ys), events


def _asc_lines(config, trials) -> list[str]:
    width, height = config.display
    lines = [
        "** CONVERTED FROM synthetic.edf using edfapi (neurogaze synthetic generator)",
        "** RECORDED BY neurogaze",
        "**",
    ]
    for trial_number, (image_name, (t, x, y, events)) in enumerate(trials, start=1):
        t_first = int(t[0])
        lines.append(f"MSG\t{t_first - 20} DISPLAY_COORDS 0 0 {width - 1} {height - 1}")
        lines.append(f"MSG\t{t_first - 10} TRIALID {trial_number}")
        lines.append(f"MSG\t{t_first - 5} !V IMGLOAD CENTER {width // 2} {height // 2} images/{image_name}")
        lines.append(f"START\t{t_first}\tLEFT\tSAMPLES\tEVENTS")
        lines.append(f"SAMPLES\tGAZE\tLEFT\tRATE\t{config.rate_hz:.2f}\tTRACKING\tCR\tFILTER\t2")
        starts = {int(e["start"]): e for e in events}
        ends = {int(e["end"]): e for e in events}
        for ti, xi, yi in zip(t, x, y):
            key = int(ti)
            if key in starts:
                lines.append(f"{'SFIX' if starts[key]['type'] == 'fixation' else 'SSACC'} L   {key}")
            lines.append(f"{key}\t{xi:7.1f}\t{yi:7.1f}\t{1000.0:7.1f}\t...")
            if key in ends:
                e = ends[key]
                dur = int(e["end"] - e["start"]) + int(1000 / config.rate_hz)
                if e["type"] == "fixation":
                    lines.append(f"EFIX L   {int(e['start'])}\t{key}\t{dur}\t{e['x']:7.1f}\t{e['y']:7.1f}\t   1000")
                else:
                    (sx, sy), (ex, ey) = e["from"], e["to"]
                    lines.append(
                        f"ESACC L  {int(e['start'])}\t{key}\t{dur}\t{sx:7.1f}\t{sy:7.1f}\t{ex:7.1f}\t{ey:7.1f}\t0.00\t0"
                    )
        lines.append(f"END\t{int(t[-1]) + 1} \tSAMPLES\tEVENTS\tRES\t 40.00\t 40.00")
        lines.append(f"MSG\t{int(t[-1]) + 2} TRIAL_RESULT 0")
    return lines


def generate_eyelink_like(out_dir: str | os.PathLike, config: SyntheticEyelinkConfig) -> dict:
    if 1000.0 / config.rate_hz != int(1000.0 / config.rate_hz):
        raise ValueError("synthetic EyeLink rate must give whole-millisecond samples (e.g. 250, 500, 1000 Hz)")
    rng = np.random.default_rng(config.seed)
    w, h = config.image_width, config.image_height
    offset = np.asarray([(config.display[0] - w) / 2, (config.display[1] - h) / 2])
    images = []
    with atomic_directory(out_dir) as temp:
        for number in range(config.n_trials):
            name = f"scene{number + 1:02d}.png"
            image, entry = _scene_entry(rng, name, w, h, config.saliency["object_sigma_frac"],
                                        config.saliency["center_bias_weight"])
            (temp / "images").mkdir(exist_ok=True)
            Image.fromarray(image).save(temp / "images" / name)
            images.append(entry)
        truth_subjects = {}
        for subject in range(1, config.n_subjects + 1):
            trials = [(entry["img"], _trial_trace(rng, config, entry, offset)) for entry in images]
            lines = _asc_lines(config, trials)
            (temp / f"sub{subject:02d}.asc").write_text("\n".join(lines) + "\n")
            truth_subjects[f"sub{subject:02d}"] = [
                {
                    "trial": number,
                    "image": name,
                    "t0_ms": float(t[0]),
                    # ground truth in image pixels and ms from the trial's first sample
                    "fixations": [
                        {
                            "x": e["x"] - offset[0],
                            "y": e["y"] - offset[1],
                            "t_start_ms": e["start"] - t[0],
                            "duration_ms": e["end"] - e["start"] + 1000.0 / config.rate_hz,
                        }
                        for e in events
                        if e["type"] == "fixation"
                    ],
                    "saccades": [
                        {"t_start_ms": e["start"] - t[0], "t_end_ms": e["end"] - t[0]}
                        for e in events
                        if e["type"] == "saccade"
                    ],
                }
                for number, (name, (t, _, _, events)) in enumerate(trials)
            ]
        truth = {
            "generator": "eyelink_like",
            "config": asdict(config),
            "images": images,
            "subjects": truth_subjects,
            "deg_per_px": _deg_per_px(config),
            "image_offset_px": offset.tolist(),
        }
        _write_ground_truth(temp, truth)
    return truth


GENERATORS = {
    "osie": (generate_osie_like, SyntheticOsieConfig),
    "cocosearch18": (generate_cocosearch_like, SyntheticCocoSearchConfig),
    "eyelink": (generate_eyelink_like, SyntheticEyelinkConfig),
    "capmit1003": (generate_capmit1003_like, SyntheticCapmitConfig),
}


def generate(name: str, out_dir: str | os.PathLike, settings: dict | None = None, seed: int = 0) -> dict:
    """Run the generator of dataset ``name`` with its ``synthetic`` settings (EyeLink: plus the screen)."""
    if name not in GENERATORS:
        raise KeyError(f"no synthetic gaze generator for {name!r}; there are: {sorted(GENERATORS)}")
    generator, config_class = GENERATORS[name]
    return generator(out_dir, from_section(config_class, settings, f"datasets.{name}.synthetic", seed=seed))
