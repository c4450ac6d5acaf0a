"""Gaze figures: the plot stage draws every scored method's metric bars beside the human ceiling,
and scanpaths on images, from the files its rule reads."""

import numpy as np
import pandas as pd
from PIL import Image

from neurogaze.data.contracts import METRIC_COLUMNS, read_fixations, write_fixations, write_metrics
from neurogaze.figures import gaze as figures
from neurogaze.gaze.baselines import baseline_fixations
from neurogaze.metrics.gaze_evaluation import DATASET_UNIT

from ..gaze.toy import HEIGHT, STIM_IDS, WIDTH, write_toy_gaze


def metric_table(method, values):
    rows = [{"method": method, "dataset": "toy", "unit": DATASET_UNIT, "metric": metric, "split": "test", "seed": 0,
             "value": value} for metric, value in values.items()]
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


def test_plot_writes_both_figures_from_the_rules_files(tmp_path):
    fixations, stimuli = write_toy_gaze(tmp_path / "data")
    sizes = {stim: (WIDTH, HEIGHT) for stim in STIM_IDS}
    tables, predictions = [], []
    for method, nss in (("uniform", 0.1), ("centre_bias", 0.6), ("human_consistency", 2.0)):
        table = tmp_path / "gaze" / method / "toy" / "metrics.csv"
        write_metrics(table, metric_table(method, {"nss": nss, "dtw": 100 - 20 * nss}))
        tables.append(table)
        if method != "human_consistency":
            scanpaths = tmp_path / "gaze" / method / "toy" / "fixations.parquet"
            humans = read_fixations(fixations)
            scored, training = humans[humans.stim_id == STIM_IDS[0]], humans[humans.stim_id != STIM_IDS[0]]
            write_fixations(scanpaths, baseline_fixations(method, scored, sizes, 2, training=training), sizes)
            predictions.append(scanpaths)
    metrics_figure, scanpaths_figure = tmp_path / "metrics.png", tmp_path / "scanpaths.png"
    figures.plot(dataset="toy", fixations=fixations, stimuli=stimuli, tables=tables, predictions=predictions,
                 metrics_figure=metrics_figure, scanpaths_figure=scanpaths_figure)
    for path in (metrics_figure, scanpaths_figure):
        assert np.asarray(Image.open(path)).std() > 0  # drawn, not blank


def test_metric_bars_show_each_method_and_the_ceiling_as_a_line():
    tables = [metric_table("uniform", {"nss": 0.1}), metric_table("nevaclip", {"nss": 0.9}),
              metric_table("human_consistency", {"nss": 2.0})]
    axis = figures.plot_gaze_metrics(tables, "toy").axes[0]
    assert [tick.get_text() for tick in axis.get_xticklabels()] == ["nevaclip", "uniform"]
    assert [bar.get_height() for bar in axis.patches] == [0.9, 0.1]
    assert axis.lines[0].get_ydata()[0] == 2.0
