"""The `semiseg` command: argument parsing and dispatch. Thin on purpose.

Exit codes (pipeline/reporting.py): 0 completed, 1 engine failure, 2 invalid input, 130 cancelled.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from semiseg.pipeline.reporting import EXIT_FAILED, EXIT_OK, reported, sigterm_cancels

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="semiseg", description="Semi-supervised segmentation of rasters from sparse labels.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train the job in JOB_DIR (see docs/job-spec.md)")
    t.add_argument("job_dir", type=Path)
    t.add_argument("--resume", action="store_true", help="continue from JOB_DIR/checkpoints/last.ckpt")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    t.add_argument("--devices", type=int, default=1, help="processes per node (DDP when > 1)")
    t.add_argument("--num-nodes", type=int, default=1)
    t.add_argument("--quiet", action="store_true", help="no progress bar; events and log only")

    v = sub.add_parser("validate", help="check JOB_DIR/job.json and its files without training")
    v.add_argument("job_dir", type=Path)

    pr = sub.add_parser("predict", help="predict rasters with a trained model package")
    pr.add_argument("model_dir", type=Path, metavar="MODEL", help="a model package folder, or a .onnx file `semiseg export` wrote from one")
    pr.add_argument("rasters", type=Path, nargs="+")
    pr.add_argument("--out", type=Path, required=True)
    pr.add_argument("--overlap", type=float, default=0.5, help="fraction of a window shared with its neighbour (default 0.5)")
    pr.add_argument("--batch-size", type=int, default=8, help="windows per forward pass (default 8)")
    pr.add_argument("--precision", default="auto", choices=("auto", "32", "bf16"),
                    help="auto (default): bfloat16 on a GPU that computes it natively, float32 on a CPU; 32: float32; bf16: bfloat16 (on a CPU with AVX512-BF16, faster on large windows)")
    pr.add_argument("--tta", action="store_true", help="average each window's prediction over its 8 orientations (turns and flips): 8x the time")
    pr.add_argument("--runtime", default="auto", choices=("auto", "torch", "onnxruntime"),
                    help="what computes the network: auto (default): onnxruntime on a CPU in float32 (faster there), PyTorch elsewhere; torch; onnxruntime")
    pr.add_argument("--polygons", action="store_true", help="also write RASTER_polygons.gpkg: one polygon per region of a class")
    pr.add_argument("--min-polygon-pixels", type=int, metavar="N",
                    help="with --polygons: smaller regions merge into their largest neighbour first (default 16; 1 keeps all)")
    pr.add_argument("--probabilities", action="store_true", help="also write RASTER_probabilities.tif: band k is class k's probability x 255")
    pr.add_argument("--suggest", type=int, default=20, metavar="N",
                    help="write RASTER_suggestions.gpkg: up to N regions where a label would teach the model most (default 20; 0: none)")
    pr.add_argument("--bounds", type=float, nargs=4, metavar=("XMIN", "YMIN", "XMAX", "YMAX"),
                    help="predict only the pixels covering this area, in the raster's CRS (pixel coordinates x = column, y = -row for a raster without one, as QGIS shows it)")
    pr.add_argument("--axis", default="inline", choices=("inline", "crossline", "both"),
                    help="SEG-Y volumes: predict along inlines, crosslines, or both with their probabilities averaged (default inline)")
    pr.add_argument("--inline", type=int, nargs="+", default=[], metavar="N",
                    help="SEG-Y volumes: also write these inlines and their predictions as GeoTIFFs for QGIS")
    pr.add_argument("--crossline", type=int, nargs="+", default=[], metavar="N", help="likewise for crosslines")
    pr.add_argument("--device", default="auto")
    pr.add_argument("--devices", type=int, default=1, help="processes per node, each predicting its share of the blocks (default 1)")
    pr.add_argument("--num-nodes", type=int, default=1, help="nodes of a torchrun or SLURM run (default 1)")
    pr.add_argument("--block-size", type=int, default=2048, metavar="PX",
                    help="output pixels a side of a unit of work, a multiple of 256 (default 2048): a rerun predicts only the blocks a stopped run did not finish")
    pr.add_argument("--workers", type=int, metavar="N",
                    help="processes reading and normalising windows while the model computes (default: 4 on a GPU, none on a CPU, whose cores compute)")
    pr.add_argument("--quiet", action="store_true")
    pr.add_argument("--events", action="store_true", help="also write OUT/events.jsonl and OUT/log.txt (for clients such as the plugin)")

    e = sub.add_parser("evaluate", help="OA, mIoU, per-class IoU of a class raster against labels")
    e.add_argument("--pred", type=Path, required=True)
    e.add_argument("--labels", type=Path, required=True)
    e.add_argument("--class-field", default="class_id")
    e.add_argument("--num-classes", type=int)
    e.add_argument("--json", action="store_true")

    st = sub.add_parser("stats", help="area and share of every class of a class raster, overall or per zone")
    st.add_argument("classes", type=Path, help="a class raster (RASTER_classes.tif)")
    st.add_argument("--out", type=Path, required=True, help="CSV to write; the same rows go to a .json beside it")
    st.add_argument("--confidence", type=Path, help="its confidence raster (default: RASTER_confidence.tif beside it, if there)")
    st.add_argument("--zones", type=Path, help="polygons (GeoPackage, Shapefile, GeoJSON): areas per zone too")
    st.add_argument("--zone-field", help="with --zones: the field naming each zone")
    st.add_argument("--low-confidence", type=float, default=None, help="pixels below this confidence count as uncertain (default: halfway from chance, 1/K, to certainty: 0.75 for two classes, 0.55 for ten)")

    vz = sub.add_parser("vectorize", help="class polygons of a class raster as GeoPackage, GeoJSON or Shapefile")
    vz.add_argument("classes", type=Path, help="a class raster (RASTER_classes.tif)")
    vz.add_argument("--out", type=Path, required=True, help="OUT.gpkg, OUT.geojson or OUT.shp")
    vz.add_argument("--min-pixels", type=int, default=16, help="smaller regions merge into their largest neighbour first (default 16; 1 keeps all)")
    vz.add_argument("--simplify", type=float, default=0.0, help="simplify edges by this distance in the CRS's units, neighbours kept sharing their boundary (default 0: pixel edges)")

    ex = sub.add_parser("export", help="export a model package for other tools (ONNX for Deepness and onnxruntime)")
    ex.add_argument("model_dir", type=Path)
    ex.add_argument("--onnx", type=Path, required=True, help="the .onnx file to write (input: band values / 255, output: class probabilities)")

    sg = sub.add_parser("segy", help="SEG-Y volumes and lines: geometry, and sections or slices as GeoTIFFs")
    sgs = sg.add_subparsers(dest="segy_command", required=True)
    si = sgs.add_parser("info", help="inline/crossline ranges, samples, format, CDP X/Y and what is irregular")
    si.add_argument("volume", type=Path)
    si.add_argument("--json", action="store_true")
    ss = sgs.add_parser("sections", help="inline/crossline sections and time/depth slices as GeoTIFFs, each with a .segy.json sidecar")
    ss.add_argument("volume", type=Path)
    ss.add_argument("--out", type=Path, required=True)
    ss.add_argument("--inline", type=int, nargs="+", default=[], metavar="N")
    ss.add_argument("--crossline", type=int, nargs="+", default=[], metavar="N")
    ss.add_argument("--time-slice", type=float, nargs="+", default=[], metavar="T", help="time (ms) or depth of a map-view slice")
    ss.add_argument("--every", nargs=2, action="append", default=[], metavar=("AXIS", "K"),
                    help="every K-th inline, crossline or time slice (AXIS: inline, crossline, time), from the first; repeatable")
    ss.add_argument("--crs", help="CRS of the CDP X/Y for slices (EPSG:..., WKT); none if unknown")
    for parser in (si, ss):
        parser.add_argument("--inline-byte", type=int, default=189, help="trace header byte of the inline number (default 189)")
        parser.add_argument("--crossline-byte", type=int, default=193, help="trace header byte of the crossline number (default 193)")

    w = sub.add_parser("weights", help="download an encoder's pretrained weights to a file for model.encoder_weights (needs internet)")
    w.add_argument("encoder", help="an smp encoder, e.g. resnet18")
    w.add_argument("--name", default="imagenet", help="which of its pretrained weights (default imagenet)")
    w.add_argument("--out", type=Path, required=True, help="the .safetensors file to write")

    d = sub.add_parser("doctor", help="versions, GPUs, what is missing")
    d.add_argument("--json", action="store_true")

    me = sub.add_parser("methods", help="training methods, their parameters and the default")
    me.add_argument("--json", action="store_true")

    m = sub.add_parser("demo", help="generate a scene with scribbles, train, predict, print the outputs")
    m.add_argument("--out", type=Path, default=Path("semiseg-demo"))
    m.add_argument("--steps", type=int)
    m.add_argument("--device", default="auto")
    m.add_argument("--quiet", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from semiseg.io import gdal_settings
    from semiseg.pipeline.reporting import exit_code

    gdal_settings.configure()
    return exit_code(lambda: globals()[f"_cmd_{args.command}"](args))


def _cmd_train(args) -> int:
    from semiseg.pipeline.runner import TrainOptions
    from semiseg.pipeline.train_job import train_job

    return train_job(args.job_dir, TrainOptions(args.resume, args.device, args.devices, args.num_nodes, args.quiet))


def _cmd_validate(args) -> int:
    from semiseg.pipeline.prepare import prepare_inputs
    from semiseg.jobs.spec import load_job

    prepared = prepare_inputs(load_job(args.job_dir))
    for note in prepared.warnings:
        print(f"semiseg: warning: {note}", file=sys.stderr)
    for d in prepared.domains:
        where = f"domain {d.name!r}: " if len(prepared.domains) > 1 else ""
        print(f"semiseg: {where}{len(d.labeled)} labelled raster(s), {len(d.bands)} band(s), {len(d.spec.classes)} classes")
    start = f", starting from {prepared.spec.model.init_from}" if prepared.init else ""
    print(f"semiseg: network {prepared.arch}/{prepared.encoder}{start}")
    print(f"semiseg: {args.job_dir / 'job.json'} is valid")
    return EXIT_OK


# What `semiseg predict`'s flags mean when InferenceSpec (jobs/spec.py, which holds the limits) refuses them.
_PREDICT_FLAGS = {
    "overlap": ("--overlap", "expected a fraction of a window from 0 up to, not including, 1"),
    "batch_size": ("--batch-size", "expected at least 1"),
    "min_polygon_pixels": ("--min-polygon-pixels", "expected at least 1"),
    "suggestions": ("--suggest", "expected a count of 0 or more"),
}


def _inference_options(args):
    """The flags as the job's `inference` block: one set of limits for a job and for the command."""
    from pydantic import ValidationError

    from semiseg.errors import UserError
    from semiseg.jobs.spec import DEFAULT_MIN_POLYGON_PIXELS, InferenceSpec

    if args.min_polygon_pixels is not None and not args.polygons:
        raise UserError("--min-polygon-pixels: needs --polygons and a value of at least 1")
    values = dict(overlap=args.overlap, batch_size=args.batch_size, polygons=args.polygons, suggestions=args.suggest, precision=args.precision, tta=args.tta,
                  runtime=args.runtime)
    values["min_polygon_pixels"] = DEFAULT_MIN_POLYGON_PIXELS if args.min_polygon_pixels is None else args.min_polygon_pixels
    try:
        return InferenceSpec(**values)
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0])
        flag, meaning = _PREDICT_FLAGS[field]
        raise UserError(f"{flag} {values[field]}: {meaning}") from None


def _cmd_predict(args) -> int:
    import dataclasses
    import os
    import time

    from semiseg.errors import UserError
    from semiseg.jobs.events import EventLog
    from semiseg.predict.area import check_bounds
    from semiseg.predict.parts import OUTPUT_TILE
    from semiseg.predict.ranks import launch_ranks
    from semiseg.predict.raster import PredictOptions, load_predictor, predict_raster
    from semiseg.segy.volume_predict import is_volume, predict_volume
    from tqdm import tqdm

    if args.bounds:
        check_bounds(tuple(args.bounds))
    for flag, given in (("--bounds", args.bounds), ("--polygons", args.polygons)):
        if given and any(is_volume(r) for r in args.rasters):
            raise UserError(f"{flag}: not for SEG-Y volumes (predict the GeoTIFF of a section from `semiseg segy sections`)")
    sections = [("inline", n) for n in args.inline] + [("crossline", n) for n in args.crossline]
    if sections and not all(is_volume(r) for r in args.rasters):
        raise UserError("--inline/--crossline: only for SEG-Y volumes (.sgy, .segy)")
    if args.devices * args.num_nodes > 1 and any(is_volume(r) for r in args.rasters):
        raise UserError("--devices/--num-nodes: a SEG-Y volume is predicted by one process (predict its sections' GeoTIFFs with several)")
    if args.block_size <= 0 or args.block_size % OUTPUT_TILE:
        raise UserError(f"--block-size {args.block_size}: expected a positive multiple of {OUTPUT_TILE} (the outputs' internal tiles)")
    if args.workers is not None and args.workers < 0:
        raise UserError(f"--workers {args.workers}: expected 0 or more")
    inference = _inference_options(args)
    options = dataclasses.replace(PredictOptions.of(inference, tuple(args.bounds) if args.bounds else None), block_size=args.block_size,
                                  probabilities=args.probabilities)
    by_stem = {}
    for raster in args.rasters:  # outputs are named after the file: one would overwrite the other
        if raster.stem in by_stem:
            raise UserError(f"{raster}: same file name as {by_stem[raster.stem]}; predict them into separate --out folders")
        by_stem[raster.stem] = raster
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{args.out}: cannot write the predictions there ({exc.strerror or exc})") from None
    ranks = launch_ranks(args.device, args.devices, args.num_nodes, args.out)  # the other processes start here and return too
    events = EventLog(args.out, enabled=args.events and ranks.is_main)
    quiet = args.quiet or not ranks.is_main
    events.emit("start", pid=os.getpid(), model=str(args.model_dir), rasters=[str(r) for r in args.rasters], processes=ranks.world)
    bar = None  # made at the first window: a refused input is then one line on stderr, no empty bar
    last = [0.0]

    def on_tile(done: int, total: int) -> None:
        nonlocal bar
        if not quiet:
            bar = bar or tqdm(unit="window", desc="predict")
            bar.total, bar.n = total, done
            bar.refresh()
        if time.monotonic() - last[0] > 2 or done == total:
            last[0] = time.monotonic()
            events.emit("progress", step=done, total=total, unit="window")

    def on_phase(phase: str, message: str, **fields) -> None:
        events.emit("phase", phase=phase, message=message, **fields)

    with sigterm_cancels(), reported(events, "cancelled"):
        card, predictor = load_predictor(args.model_dir, str(ranks.device), inference.batch_size, inference.precision, inference.tta,
                                          second_opinion=options.suggestions > 0 and not all(is_volume(r) for r in args.rasters),
                                          runtime=inference.runtime)
        for raster in args.rasters:
            events.emit("phase", phase="predict", message=f"predicting {raster.name}", runtime=predictor.runtime)
            if is_volume(raster):  # SEG-Y: line by line into SEG-Y files (progress counts lines)
                paths = predict_volume(card, predictor, raster, args.out, args.axis, options.overlap, on_tile, sections)
                outputs = [(raster, kind, path) for kind, path in paths.outputs()]
                outputs += [(section, kind, path) for section, predicted in paths.sections for kind, path in predicted.outputs()]
            else:
                workers = args.workers if args.workers is not None else (4 if predictor.device.type == "cuda" else 0)
                paths = predict_raster(card, predictor, raster, args.out, dataclasses.replace(options, workers=workers), on_tile, on_phase, ranks)
                if paths is None:  # another process's share is done; the main one writes the outputs
                    continue
                outputs = [(raster, kind, path) for kind, path in paths.outputs()]
            if bar is not None:
                bar.reset()
            for source, kind, path in outputs:
                events.emit("output", kind=kind, path=path.name, source=str(source))
            print(f"{paths.classes}\n{paths.confidence}")
    if bar is not None:
        bar.close()
    ranks.close()
    events.emit("done", status="completed", exit_code=EXIT_OK, message=f"predicted {len(args.rasters)} raster(s)")
    return EXIT_OK


def _cmd_stats(args) -> int:
    from semiseg.errors import UserError
    from semiseg.predict.class_areas import class_areas, confidence_beside, write_class_areas

    if args.low_confidence is not None and not 0 <= args.low_confidence <= 1:
        raise UserError(f"--low-confidence {args.low_confidence}: expected a probability from 0 to 1")
    if args.zone_field and not args.zones:
        raise UserError("--zone-field: needs --zones")
    confidence = args.confidence or confidence_beside(args.classes)
    rows = class_areas(args.classes, confidence, args.zones, args.zone_field, args.low_confidence)
    csv_path, json_path = write_class_areas(rows, args.out)
    for row in rows:
        area = f"{row['area_ha']:12.4f} ha" if row["area_ha"] is not None else f"{row['pixels']:12d} px"
        print(f"{row['zone']:<16} {row['class']:<20} {area}  {100 * row['share']:6.2f} %")
    print(f"semiseg: wrote {csv_path} and {json_path}")
    return EXIT_OK


def _cmd_vectorize(args) -> int:
    from semiseg.errors import UserError
    from semiseg.io.rasters import open_raster
    from semiseg.predict.class_areas import class_names_of
    from semiseg.predict.polygons import polygonize, vector_driver
    from semiseg.predict.raster import CLASS_NODATA

    vector_driver(args.out)
    if args.min_pixels < 1:
        raise UserError(f"--min-pixels {args.min_pixels}: expected at least 1")
    with open_raster(args.classes) as ds:
        names = class_names_of(ds)
    count = polygonize(args.classes, args.out, names, CLASS_NODATA, args.min_pixels, args.simplify)
    print(f"semiseg: wrote {count} polygon(s) to {args.out}")
    return EXIT_OK


def _cmd_export(args) -> int:
    from semiseg.models.onnx_export import export_onnx

    path, note = export_onnx(args.model_dir, args.onnx)
    if note:
        print(f"semiseg: note: {note}", file=sys.stderr)
    print(f"semiseg: wrote {path}")
    return EXIT_OK


def _cmd_weights(args) -> int:
    from semiseg.models.encoder_weights import fetch_encoder_weights

    path = fetch_encoder_weights(args.encoder, args.name, args.out)
    print(f"semiseg: wrote {path} (job.json: \"model\": {{\"encoder\": \"{args.encoder}\", \"encoder_weights\": \"{path}\"}})")
    return EXIT_OK


def _cmd_evaluate(args) -> int:
    from semiseg.evaluate import evaluate

    result = evaluate(args.pred, args.labels, args.class_field, args.num_classes)
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK
    print(f"pixels {result['pixels']}  OA {result['oa']:.4f}  mIoU {result['miou']:.4f}")
    for name, iou in result["per_class_iou"].items():
        print(f"  {name:<24} IoU {'-' if iou is None else f'{iou:.4f}'}")
    return EXIT_OK


def _cmd_segy(args) -> int:
    from semiseg.errors import UserError
    from semiseg.segy.sections import every, write_sections
    from semiseg.segy.survey import read_survey

    survey = read_survey(args.volume, args.inline_byte, args.crossline_byte)
    if args.segy_command == "info":
        info = survey.info()
        if args.json:
            print(json.dumps(info, indent=2))
            return EXIT_OK
        for key, value in info.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items())
            elif isinstance(value, list):
                value = "; ".join(map(str, value)) or "nothing"
            print(f"{key:<20} {value}")
        return EXIT_OK
    lines = {"inline": list(args.inline), "crossline": list(args.crossline), "time": list(args.time_slice)}
    for axis, step in args.every:
        if axis not in lines:
            raise UserError(f"--every {axis} {step}: AXIS is inline, crossline or time")
        if not step.isdigit():
            raise UserError(f"--every {axis} {step}: K must be a whole number of lines")
        numbers = {"inline": survey.inlines, "crossline": survey.crosslines, "time": survey.samples}[axis]
        lines[axis] += every(numbers, int(step))
    if survey.two_d and not any(lines.values()):
        lines["inline"] = [int(survey.inlines[0])]  # a 2D line is its one section
    if not any(lines.values()):
        raise UserError("give the sections to write: --inline N, --crossline N, --time-slice T or --every AXIS K")
    for path in write_sections(survey, args.out, lines["inline"], lines["crossline"], lines["time"], args.crs):
        print(path)
    return EXIT_OK


def _cmd_doctor(args) -> int:
    from semiseg.doctor import report

    info = report()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:<22} {value}")
    return EXIT_OK if not info["missing"] else EXIT_FAILED


def _cmd_methods(args) -> int:
    from semiseg.train.methods import describe_methods

    described = describe_methods()
    if args.json:
        print(json.dumps(described, indent=2))
        return EXIT_OK
    for name, info in described["methods"].items():
        default = " (default)" if name == described["default"] else ""
        params = ", ".join(f"{k}={v.get('default')!r}" for k, v in info["parameters"]["properties"].items())
        print(f"{name}{default}: {info['summary']}\n    {params or 'no parameters'}")
    return EXIT_OK


def _cmd_demo(args) -> int:
    from semiseg.demo.run import run_demo

    return run_demo(args.out, args.steps, args.device, args.quiet)


if __name__ == "__main__":
    sys.exit(main())
