"""`semiseg demo` (issue 39): the numbers a new user reads first are held-out scores of the maps,
the Quick map's and the trained one's, not the validation blocks' (1.000 on the demo's scene)."""

from __future__ import annotations

import json
import re

from method_helpers import one_thread  # noqa: F401 (autouse fixture)
from semiseg.demo import run as demo


def test_the_demo_prints_held_out_scores_of_the_quick_map_and_the_trained_map_and_no_validation_score(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(demo, "CPU_BATCH", 2)
    monkeypatch.setattr(demo, "CPU_TILE", 64)
    assert demo.run_demo(tmp_path / "demo", steps=2, device="cpu", quiet=False, size=160) == 0
    printed = capsys.readouterr().out
    assert "validation" not in printed.lower() and "semiseg: done (" not in printed, printed
    # One bar for the training, the engine's: not Lightning's "Training: 0/?" and "Epoch 0" beside it.
    assert "train: 100%" in printed and "Epoch" not in printed and "Training" not in printed, printed
    assert printed.index("Quick map (pixel forest), held-out mIoU") < printed.index("Trained map (mean_teacher), held-out mIoU"), printed
    last = printed.strip().splitlines()[-1]
    assert re.fullmatch(r"semiseg demo: done\. Held-out mIoU on scene_c \(never labelled\): Quick map [01]\.\d{3}, trained [01]\.\d{3}; "
                        r"on scene_a's unscribbled pixels: [01]\.\d{3}, [01]\.\d{3}", last), last
    quick = json.loads((tmp_path / "demo" / "quick" / "job.json").read_text())
    assert quick["method"]["name"] == "pixel_forest" and "model" not in quick
    assert (tmp_path / "demo" / "job" / "model" / "model.json").is_file()


def test_held_out_scores_leave_the_scribbled_pixels_out(tmp_path):
    """scene_a's map copied from its truth except on the scribbles: a perfect held-out score, though every scribbled pixel is wrong."""
    import numpy as np
    import rasterio

    from semiseg.data.labels import IGNORE_INDEX, load_labels
    from semiseg.io.rasters import raster_info

    data = tmp_path / "data"
    demo.write_scenes(data, size=128)
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    scribbled = load_labels(data / "scene_a_labels.gpkg", raster_info(data / "scene_a.tif"), len(demo.CLASSES)).ids != IGNORE_INDEX
    for scene in demo.PREDICTED:
        with rasterio.open(data / f"{scene}_truth.tif") as src:
            truth, profile = src.read(1), src.profile
        if scene == "scene_a":
            truth = np.where(scribbled, (truth + 1) % len(demo.CLASSES), truth)
        with rasterio.open(outputs / f"{scene}_classes.tif", "w", **profile) as dst:
            dst.write(truth.astype(np.uint8), 1)
    scores = demo.held_out_scores(outputs, data)
    assert scores["scene_a"]["pixels"] == 128 * 128 - int(scribbled.sum()) and scribbled.any()
    assert scores["scene_a"]["miou"] == 1.0 and scores["scene_c"]["miou"] == 1.0
