"""SEG-Y in and out: geometry, sections and slices with exact values and coordinates, volume
prediction into SEG-Y whose headers are the source's, and one line for every bad file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import segyio
import torch

from conftest import require_shared_data
from segy_volumes import Geometry, tgs_patches, write_line, write_volume
from semiseg.cli import main
from semiseg.models.network import build_network
from semiseg.models.package import ModelCard, load_package, save_package
from semiseg.predict.raster import WindowPredictor, predict_strips

TEXT, BINARY, TRACE_HEADER = 3200, 400, 240
FORMAT_BYTES = (3224, 3225)  # 0-based offsets of binary header bytes 3225-3226 in the file


@pytest.fixture(scope="module")
def f3():
    return require_shared_data("seismic-segy") / "f3_crop.sgy"


@pytest.fixture(scope="module")
def patches():
    require_shared_data("seismic-tgs-salt")
    return tgs_patches(4, 0.2, 0.6)


def _one_line_error(capsys, *words) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


def _info(path, capsys) -> dict:
    assert main(["segy", "info", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_of_the_real_f3_crop(f3, capsys):
    info = _info(f3, capsys)
    assert info["inlines"] == {"first": 111, "last": 133, "step": 1, "count": 23}
    assert info["crosslines"] == {"first": 875, "last": 892, "step": 1, "count": 18}
    assert (info["samples"], info["sample_interval"], info["first_sample"]) == (75, 4.0, 4.0)
    assert info["format"].startswith("3 (2-byte") and info["endian"] == "big"
    assert info["coordinate_scalars"] == [-10] and info["missing_traces"] == 0 and info["irregular"] == []
    with segyio.open(f3) as f:  # CDP X/Y after the scalar -10: decimetres to metres
        xs = f.attributes(segyio.TraceField.CDP_X)[:] / 10
    assert info["cdp_x"] == [xs.min(), xs.max()]
    assert info["grid"]["inline_spacing"] == pytest.approx(25, abs=0.01)


def test_sections_and_slices_of_f3_hold_its_samples_and_its_coordinates(f3, tmp_path, capsys):
    assert main(["segy", "sections", str(f3), "--out", str(tmp_path), "--inline", "120", "--crossline", "880",
                 "--time-slice", "100", "--crs", "EPSG:23031"]) == 0
    with segyio.open(f3) as f:
        inline, crossline = f.iline[120].T, f.xline[880].T  # (samples, traces)
        depth = f.depth_slice[list(f.samples).index(100.0)]  # (inlines, crosslines)
        headers = [(h[segyio.TraceField.INLINE_3D], h[segyio.TraceField.CROSSLINE_3D],
                    h[segyio.TraceField.CDP_X] / 10, h[segyio.TraceField.CDP_Y] / 10) for h in f.header]
    for name, expected in (("inline_120", inline), ("crossline_880", crossline)):
        with rasterio.open(tmp_path / f"f3_crop_{name}.tif") as ds:
            assert ds.crs is None and ds.dtypes[0] == "float32"
            np.testing.assert_array_equal(ds.read(1), expected.astype(np.float32))
            # one unit per trace across, one per sample down: y = -time / interval at a row's centre
            assert (ds.transform.a, ds.transform.e) == (1.0, -1.0)
            assert ds.xy(0, 0)[1] == pytest.approx(-4.0 / 4.0)
    tie = json.loads((tmp_path / "f3_crop_inline_120.tif.segy.json").read_text())
    assert tie["line"] == 120 and tie["positions"]["crossline"] == list(range(875, 893))
    assert [headers[t][:2] for t in tie["traces"]] == [(120, xl) for xl in range(875, 893)]

    with rasterio.open(tmp_path / "f3_crop_slice_100.tif") as ds:
        values, transform = ds.read(1), ds.transform
        assert ds.crs.to_epsg() == 23031 and transform.determinant < 0  # a map, not a mirror image
    rows = json.loads((tmp_path / "f3_crop_slice_100.tif.segy.json").read_text())["rows_inline"]
    for il, xl, x, y in headers:
        row, col = rows.index(il), xl - 875
        assert values[row, col] == depth[il - 111, col]
        cx, cy = transform @ (col + 0.5, row + 0.5)  # the pixel's centre is the trace's CDP X/Y
        assert abs(cx - x) <= 0.1 and abs(cy - y) <= 0.1  # the headers' decimetre resolution


@pytest.mark.parametrize("fmt,endian", [(1, "big"), (5, "little")])
def test_a_rotated_survey_in_ibm_or_little_endian_ieee_reads_back_exactly(patches, tmp_path, fmt, endian, capsys):
    amplitudes, _ = patches
    geometry = Geometry(azimuth_deg=30.0, scalar=-100)
    path = write_volume(tmp_path / "v.sgy", amplitudes, geometry, fmt, endian)
    info = _info(path, capsys)
    assert info["endian"] == endian and info["format"].startswith(f"{fmt} (")
    assert info["crosslines"] == {"first": 1000, "last": 1200, "step": 2, "count": 101}
    assert info["grid"]["crossline_azimuth_deg"] == pytest.approx(30.0, abs=1e-3)
    out = tmp_path / "out"
    assert main(["segy", "sections", str(path), "--out", str(out), "--inline", "201", "--crossline", "1010",
                 "--time-slice", "40", "--crs", "EPSG:32631"]) == 0
    with segyio.open(path, endian=endian) as f:  # what segyio itself decodes (IBM floats are rounded)
        expected = f.iline[201].T
        slice_40 = f.depth_slice[10]
    with rasterio.open(out / "v_inline_201.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), expected)
    with rasterio.open(out / "v_slice_40.tif") as ds:
        rows = json.loads((out / "v_slice_40.tif.segy.json").read_text())["rows_inline"]
        values, transform = ds.read(1), ds.transform
    for i in range(4):
        for j in (0, 37, 100):
            row = rows.index(200 + i)
            assert values[row, j] == slice_40[i, j]
            x, y = transform @ (j + 0.5, row + 0.5)
            ex, ey = geometry.xy(i, j)
            assert abs(x - ex) <= 0.01 and abs(y - ey) <= 0.01  # centimetres, as stored with scalar -100


def test_a_missing_trace_is_nodata_in_its_section_and_slice(patches, tmp_path, capsys):
    amplitudes, _ = patches
    path = write_volume(tmp_path / "gap.sgy", amplitudes, Geometry(missing=((1, 5),)))
    info = _info(path, capsys)
    assert info["missing_traces"] == 1 and "without a trace" in info["irregular"][0]
    assert main(["segy", "sections", str(path), "--out", str(tmp_path), "--inline", "201", "--time-slice", "0"]) == 0
    with rasterio.open(tmp_path / "gap_inline_201.tif") as ds:
        section = ds.read(1)
    assert np.isnan(section[:, 5]).all() and not np.isnan(np.delete(section, 5, axis=1)).any()
    np.testing.assert_array_equal(section[:, 6], amplitudes[1, :, 6])  # whole amplitudes: exact in IBM floats too
    with rasterio.open(tmp_path / "gap_slice_0.tif") as ds:
        rows = json.loads((tmp_path / "gap_slice_0.tif.segy.json").read_text())["rows_inline"]
        assert np.isnan(ds.read(1)[rows.index(201), 5]) and np.isnan(ds.read(1)).sum() == 1


def test_a_2d_line_is_one_section_placed_by_its_cdp_numbers(patches, tmp_path, capsys):
    amplitudes, _ = patches
    path = write_line(tmp_path / "line.sgy", amplitudes[0])
    info = _info(path, capsys)
    assert info["kind"] == "2D line" and info["crosslines"]["first"] == 5000 and info["traces"] == 101
    assert main(["segy", "sections", str(path), "--out", str(tmp_path)]) == 0
    with rasterio.open(tmp_path / "line_line.tif") as ds:  # named as a line, not as inline 0 of a volume
        np.testing.assert_array_equal(ds.read(1), amplitudes[0].astype(np.float32))
    tie = json.loads((tmp_path / "line_line.tif.segy.json").read_text())
    assert tie["positions"]["crossline"][:2] == [5000, 5001] and tie["cdp_xy"][1] == [3000.0 + 12.5, 50000.0]
    assert main(["segy", "sections", str(path), "--out", str(tmp_path), "--time-slice", "8"]) == 2
    _one_line_error(capsys, "2D line has no time slices")


def _bad_files(tmp_path, f3, patches):
    text = tmp_path / "notes.sgy"
    text.write_text("inline 1 crossline 2\n" * 400)
    truncated = tmp_path / "truncated.sgy"
    truncated.write_bytes(f3.read_bytes()[:20_000])
    gather = write_volume(tmp_path / "gather.sgy", patches[0], Geometry(duplicate=(2, 7)))
    unknown = tmp_path / "format4.sgy"
    data = bytearray(f3.read_bytes())
    data[FORMAT_BYTES[0]:FORMAT_BYTES[1] + 1] = (4).to_bytes(2, "big")  # fixed-point with gain: segyio has no reader
    unknown.write_bytes(bytes(data))
    return {"not SEG-Y": (text, "not a readable SEG-Y file"), "truncated": (truncated, "not a readable SEG-Y file"),
            "prestack": (gather, "inline 202 crossline 1014 holds 2 traces"),
            "format": (unknown, "sample format code 4")}


@pytest.mark.parametrize("case", ["not SEG-Y", "truncated", "prestack", "format"])
def test_a_bad_file_is_one_line_naming_it_and_nothing_is_written(f3, patches, tmp_path, capsys, case):
    path, words = _bad_files(tmp_path, f3, patches)[case]
    before = path.read_bytes()
    out = tmp_path / "out"
    for argv in (["segy", "info", str(path)], ["segy", "sections", str(path), "--out", str(out), "--inline", "111"]):
        assert main(argv) == 2
        _one_line_error(capsys, str(path), words)
    assert main(["predict", str(_package(tmp_path / "model")), str(path), "--out", str(out), "--quiet"]) == 2
    _one_line_error(capsys, str(path), words)
    assert not out.exists() or not [p for p in out.iterdir() if p.name != "model"], list(out.iterdir())
    assert path.read_bytes() == before  # inputs are never modified


def test_a_line_or_time_not_in_the_volume_is_refused_before_anything_is_written(f3, tmp_path, capsys):
    for flag, value, words in (("--inline", "110", "inline 110 is not in the volume (111 to 133)"),
                               ("--crossline", "900", "crossline 900 is not in the volume (875 to 892)"),
                               ("--time-slice", "400", "time/depth 400 is not in the traces (4 to 300 every 4)")):
        assert main(["segy", "sections", str(f3), "--out", str(tmp_path / "out"), "--inline", "111", flag, value]) == 2
        _one_line_error(capsys, str(f3), words)
        assert not (tmp_path / "out").exists()


def _package(folder, tile: int = 32):
    torch.manual_seed(0)
    card = ModelCard(["sediment", "salt"], ["#9e9e9e", "#d7301f"], [1], [0.0], [2000.0], "unet", "resnet18", 1, tile,
                     {"name": "supervised"})
    save_package(folder, card, build_network("unet", "resnet18", 1, 2).eval())
    return folder


def _header_bytes(path, samples: int, bytes_per_sample: int) -> tuple[bytes, bytes, list]:
    data = path.read_bytes()
    trace = TRACE_HEADER + samples * bytes_per_sample
    count = (len(data) - TEXT - BINARY) // trace
    return data[:TEXT], data[TEXT:TEXT + BINARY], [data[TEXT + BINARY + k * trace:][:TRACE_HEADER] for k in range(count)]


def test_predict_on_a_volume_writes_segy_with_the_sources_headers_and_the_sections_classes(f3, tmp_path):
    model = _package(tmp_path / "model")
    assert main(["predict", str(model), str(f3), "--out", str(tmp_path / "vol"), "--inline", "120", "--quiet", "--device", "cpu"]) == 0
    classes, confidence = tmp_path / "vol" / "f3_crop_classes.sgy", tmp_path / "vol" / "f3_crop_confidence.sgy"
    text, binary, headers = _header_bytes(f3, 75, 2)
    for out in (classes, confidence):
        out_text, out_binary, out_headers = _header_bytes(out, 75, 4)
        assert out_text == text and out_headers == headers  # 414 trace headers, byte for byte, same order
        changed = [k for k in range(BINARY) if out_binary[k] != binary[k]]
        assert changed == [FORMAT_BYTES[1] - TEXT] and out_binary[FORMAT_BYTES[1] - TEXT] == 5  # only the format: IEEE
    with segyio.open(f3) as src, segyio.open(classes) as cls, segyio.open(confidence) as conf:
        assert (list(cls.ilines), list(cls.xlines), list(cls.samples), cls.sorting) == \
               (list(src.ilines), list(src.xlines), list(src.samples), src.sorting)
        predicted_inline = cls.iline[120].T
        conf_values = conf.trace.raw[:]
    assert ((conf_values >= 0.5) & (conf_values <= 1)).all()  # a top class probability of two classes
    # The same section as a GeoTIFF, predicted as any raster: the same classes
    assert main(["segy", "sections", str(f3), "--out", str(tmp_path / "sec"), "--inline", "120"]) == 0
    assert main(["predict", str(model), str(tmp_path / "sec" / "f3_crop_inline_120.tif"), "--out", str(tmp_path / "sec"),
                 "--quiet", "--device", "cpu"]) == 0
    for folder in ("sec", "vol"):  # also the GeoTIFF the volume's prediction wrote of the line asked for
        with rasterio.open(tmp_path / folder / "f3_crop_inline_120_classes.tif") as ds:
            np.testing.assert_array_equal(predicted_inline, ds.read(1).astype(np.float32))
    assert len(np.unique(predicted_inline)) == 2  # an untrained net still splits this section: the test can fail


def test_both_axes_average_the_inline_and_crossline_probabilities_of_each_trace(f3, tmp_path):
    from semiseg.segy.sections import read_line, write_section_raster
    from semiseg.segy.survey import open_segy, read_survey

    model = _package(tmp_path / "model")
    assert main(["predict", str(model), str(f3), "--out", str(tmp_path), "--axis", "both", "--quiet", "--device", "cpu"]) == 0
    card, network = load_package(model)
    predictor = WindowPredictor(network, torch.device("cpu"), 8)
    survey = read_survey(f3)
    probabilities = {}
    with open_segy(f3) as handle:
        for axis, number in (("inline", 120), ("crossline", 880)):
            write_section_raster(read_line(survey, handle, axis, number), survey, tmp_path / f"{axis}.tif")
            probabilities[axis] = np.concatenate([s.probabilities for s in predict_strips(card, predictor, tmp_path / f"{axis}.tif", 0.5)], 1)
    crossing = (probabilities["inline"][:, :, 880 - 875] + probabilities["crossline"][:, :, 120 - 111]) / 2
    with segyio.open(tmp_path / "f3_crop_classes.sgy") as cls, segyio.open(tmp_path / "f3_crop_confidence.sgy") as conf:
        trace = (120 - 111) * 18 + (880 - 875)
        np.testing.assert_array_equal(cls.trace[trace], crossing.argmax(0).astype(np.float32))
        np.testing.assert_allclose(conf.trace[trace], crossing.max(0), atol=1e-6)


def test_scribbles_on_two_inlines_train_a_model_that_maps_the_volume(tmp_path):
    """The interpreter's loop on a volume: sections out, labels on two of them, train, predict the
    volume into SEG-Y, and that SEG-Y scored against the volume's own salt masks."""
    from conftest import sparse_labels, write_job

    require_shared_data("seismic-tgs-salt")
    amplitudes, masks = tgs_patches(8, 0.2, 0.6)
    volume = write_volume(tmp_path / "salt.sgy", amplitudes)
    assert main(["segy", "sections", str(volume), "--out", str(tmp_path), "--inline", "200", "201"]) == 0
    labelled = []
    for i in (0, 1):  # inlines 200 and 201: the only labels
        section = tmp_path / f"salt_inline_{200 + i}.tif"
        with rasterio.open(section) as ds:
            profile = {**ds.profile, "dtype": "uint8", "nodata": 255}
        with rasterio.open(tmp_path / f"labels_{i}.tif", "w", **profile) as ds:
            ds.write(sparse_labels(masks[i], every=5), 1)
        labelled.append({"raster": section.name, "labels": f"labels_{i}.tif"})
    write_job(tmp_path, classes=[{"id": 0, "name": "sediment", "color": "#9e9e9e"}, {"id": 1, "name": "salt", "color": "#d7301f"}],
              labeled=labelled, unlabeled=[{"segy": "salt.sgy", "inline_every": 1, "crossline_every": 20}], predict=[],
              train={"steps": 120, "batch_size": 4, "tile_size": 64, "lr": 2e-3})
    assert main(["train", str(tmp_path), "--quiet", "--device", "cpu"]) == 0
    cut = sorted(p.name for p in (tmp_path / "segy" / "salt").glob("*.tif"))  # the volume, cut as asked
    assert cut == sorted([f"salt_inline_{200 + i}.tif" for i in range(8)] +
                         [f"salt_crossline_{1000 + 2 * j}.tif" for j in range(0, 101, 20)])
    assert main(["predict", str(tmp_path / "model"), str(volume), "--out", str(tmp_path / "vol"), "--quiet", "--device", "cpu"]) == 0
    with segyio.open(tmp_path / "vol" / "salt_classes.sgy") as f:
        predicted = np.stack([f.iline[200 + i].T for i in range(8)]).astype(np.uint8)  # (inline, samples, crosslines)
    unseen, truth = predicted[2:], masks[2:]  # inlines never labelled
    ious = [((unseen == c) & (truth == c)).sum() / ((unseen == c) | (truth == c)).sum() for c in (0, 1)]
    majority = ((truth == 0).sum() / truth.size) / 2  # mIoU of a map that says "sediment" everywhere
    assert np.mean(ious) > max(0.55, majority + 0.2), (ious, majority)  # 0.64 measured


def test_a_job_names_an_unreadable_unlabelled_volume_in_one_line_before_training(tmp_path, capsys):
    from conftest import sparse_labels, two_class_scene, write_job, write_raster

    image, truth = two_class_scene(bands=1)
    write_raster(tmp_path / "a.tif", image)
    write_raster(tmp_path / "a_labels.tif", sparse_labels(truth), nodata=255)
    (tmp_path / "noise.sgy").write_bytes(b"\0" * 5000)
    write_job(tmp_path, unlabeled=[{"segy": "noise.sgy", "inline_every": 2}])
    for command in ("validate", "train"):
        assert main([command, str(tmp_path)] + (["--quiet", "--device", "cpu"] if command == "train" else [])) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert any(str(tmp_path / "noise.sgy") in line and "not a readable SEG-Y file" in line for line in err), err
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "model").exists()
    write_job(tmp_path, unlabeled=[{"segy": "noise.sgy"}])
    assert main(["validate", str(tmp_path)]) == 2
    assert "inline_every, crossline_every or slice_every" in capsys.readouterr().err


def test_lines_asked_of_a_volume_prediction_are_checked_first(f3, tmp_path, capsys):
    model = _package(tmp_path / "model")
    assert main(["predict", str(model), str(f3), "--out", str(tmp_path / "out"), "--crossline", "5", "--quiet"]) == 2
    _one_line_error(capsys, str(f3), "crossline 5 is not in the volume")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.sgy"))
    assert main(["segy", "sections", str(f3), "--out", str(tmp_path), "--inline", "120"]) == 0
    capsys.readouterr()
    assert main(["predict", str(model), str(tmp_path / "f3_crop_inline_120.tif"), "--out", str(tmp_path / "out"), "--inline", "120"]) == 2
    _one_line_error(capsys, "--inline/--crossline: only for SEG-Y volumes")
