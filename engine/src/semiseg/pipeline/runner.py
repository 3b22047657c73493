"""`semiseg train JOB_DIR`: prepare inputs, train with Lightning, export the model, predict."""

from __future__ import annotations

import logging
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.utils.data import DataLoader

from semiseg import __version__
from semiseg.data.dataset import DomainWindows, StepSampler, collate_windows
from semiseg.data.workers import die_with_parent
from semiseg.devices import resolve_device
from semiseg.errors import Cancelled, UserError
from semiseg.jobs.events import EventLog
from semiseg.jobs.jobdir import JobDir
from semiseg.jobs.spec import JobSpec, load_job
from semiseg.metrics import scores
from semiseg.models.blend import BLEND_WEIGHTS, ForestBlend, choose_blend_weight
from semiseg.models.context import ForestContext
from semiseg.models.forest import FOREST_ARCH, FOREST_ENCODER
from semiseg.models.network import build_network
from semiseg.models.second_opinion import with_network
from semiseg.models.package import network_weights
from semiseg.pipeline.domain_data import DomainData, build_domain_data
from semiseg.pipeline.export import export_models
from semiseg.pipeline.fingerprint import fingerprint
from semiseg.pipeline.forest_maps import fitted_forest, forest_maps, forest_of_this_job
from semiseg.pipeline.job_run import JobRun
from semiseg.pipeline.predict_job import predict_job
from semiseg.pipeline.prepare import prepare_inputs
from semiseg.pipeline.segy_sources import cut_segy_sections
from semiseg.rendezvous import single_node_rendezvous, started_by_a_launcher
from semiseg.train.callbacks import BesideItsNameCheckpointIO, CancelFlag, Checkpointing, ProgressEvents, StepProgressBar, Validation, seed_from
from semiseg.train.distributed import SingleNodeDDP
from semiseg.train.forest import train_pixel_forest
from semiseg.train.methods import METHODS, build_method
from semiseg.train.methods.base import MethodContext
from semiseg.train.precision import lightning_precision
from semiseg.train.task import SegmentationTask

def is_rank_zero() -> bool:
    """Before Lightning starts, rank comes from the environment its launcher sets for children."""
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0"


class _StepData(L.LightningDataModule):
    """Hands each process the sample numbers of its own steps, from where training resumes."""

    def __init__(self, dataset, spec: JobSpec, num_workers: int, pin: bool):
        super().__init__()
        self.dataset, self.spec = dataset, spec
        self.num_workers, self.pin = num_workers, pin

    def train_dataloader(self):
        t = self.spec.train
        sampler = StepSampler(t.steps, t.batch_size, lambda: self.trainer.global_step, self.trainer.global_rank, self.trainer.world_size)
        return DataLoader(
            self.dataset,
            batch_size=t.batch_size,
            sampler=sampler,
            collate_fn=collate_windows,
            num_workers=self.num_workers,
            pin_memory=self.pin,
            prefetch_factor=4 if self.num_workers else None,
            worker_init_fn=die_with_parent if self.num_workers else None,
        )


def _accelerator(device: str, devices: int) -> tuple[str, int | list[int]]:
    """Lightning's accelerator and devices for `--device` and `--devices`."""
    if device.startswith("cuda:") and devices > 1:  # one named GPU cannot host several processes
        raise UserError(f"--device {device} --devices {devices}: cuda:N names one GPU; use --device cuda --devices {devices} for several")
    chosen = resolve_device(device)
    if chosen.type == "cpu":
        return "cpu", devices
    return "gpu", ([chosen.index] if chosen.index is not None else devices)


def _default_workers(accelerator: str) -> int:
    cpus = os.cpu_count() or 1
    return min(8, cpus) if accelerator == "gpu" else min(2, max(0, cpus - 1))


def _quiet_lightning() -> None:
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in (".*does not have many workers.*", ".*smaller than the logging interval.*", ".*that ended before the epoch ended.*", ".*LeafSpec.*", r".*module\(s\) in eval mode.*"):
        warnings.filterwarnings("ignore", message=pattern)


def read_checkpoint_fields(path: Path) -> dict:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(f"{path}: unreadable checkpoint ({str(exc).splitlines()[0][:120]})") from None
    return {"global_step": int(ckpt.get("global_step", 0)), "fingerprint": ckpt.get("semiseg_fingerprint")}


def _strategy(jd: JobDir, devices: int, num_nodes: int):
    if devices * num_nodes == 1:
        return "auto"
    if num_nodes == 1 and not started_by_a_launcher():
        return SingleNodeDDP(single_node_rendezvous(jd.root))
    return "ddp"


@dataclass(frozen=True)
class TrainOptions:
    """How `semiseg train` runs a job (its command-line flags), as opposed to what job.json asks."""

    resume: bool = False  # continue from the job's checkpoint
    device: str = "auto"  # devices.py
    devices: int = 1  # processes per node (DDP when more than one in all)
    num_nodes: int = 1
    quiet: bool = False  # no progress bar on the console


def run_training(job_dir: Path, events: EventLog, options: TrainOptions = TrainOptions()) -> dict:
    """Train, export and predict the job; returns the final validation scores per domain. Raises UserError, Cancelled."""
    resume, devices, num_nodes = options.resume, options.devices, options.num_nodes
    jd = JobDir(Path(job_dir))
    if is_rank_zero():  # a request from an earlier run is not for this one; DDP's later ranks keep a new one
        jd.cancel_request.unlink(missing_ok=True)
    cancel = CancelFlag(jd.cancel_request)
    asked = load_job(jd.root)
    events.emit("phase", phase="prepare", message="checking inputs and reading labels")
    spec = cut_segy_sections(asked, jd.segy_sections)
    prepared = prepare_inputs(spec)  # names a missing or unreadable input file in one line
    print_fp = fingerprint(asked)  # of the SEG-Y volumes themselves, not of the sections cut from them
    cancel.check()  # asked while the inputs were read: nothing but the SEG-Y sections is written yet
    for note in prepared.warnings:
        events.emit("warning", message=note)
    run = JobRun(jd, spec, events, cancel, print_fp)
    accelerator, device_arg = _accelerator(options.device, devices)
    if not METHODS[spec.method.name].trains_network:
        # A pixel classifier fits in minutes and keeps no checkpoint: --resume fits it again, identically.
        return _train_pixel_classifier(run, prepared, accelerator)

    start_step, ckpt_path = 0, None
    if resume and not jd.last_checkpoint.is_file():
        # Stopped after fitting its pixel forest, before the first checkpoint: train from step 0 with that forest.
        if not forest_of_this_job(jd, print_fp):
            raise UserError(f"{jd.last_checkpoint}: no checkpoint to resume from (train without --resume)")
    elif resume:
        fields = read_checkpoint_fields(jd.last_checkpoint)
        if fields["fingerprint"] != print_fp:
            raise UserError(f"{jd.spec}: the job, its input files (model.init_from's included) or the engine version changed since the checkpoint; start a new job instead of --resume")
        start_step, ckpt_path = fields["global_step"], jd.last_checkpoint

    t = spec.train
    world = devices * num_nodes
    method_cls = METHODS[spec.method.name]
    init_stats = prepared.init.stats if prepared.init else None
    domains = [build_domain_data(d, i, t, t.steps * t.batch_size * world, method_cls.uses_unlabeled, init_stats) for i, d in enumerate(prepared.domains)]
    for d in domains:
        if not len(d.validator):
            where = f" in domain {d.prepared.name!r}" if spec.multi_domain else ""
            events.emit("warning", message=f"too few labelled blocks{where} to hold some back: no validation metrics (label more areas)")

    arch = prepared.arch

    def network_for(in_channels: int, classes: int):
        return build_network(arch, prepared.encoder, in_channels, classes, spec.model.encoder_weights_file or spec.model.encoder_weights)

    first = domains[0].info
    # forest_context: the network also reads one forest probability channel per class (models/context.py)
    context_channels = len(first.class_names) if getattr(method_cls.Params.model_validate(spec.method.params), "forest_context", False) else 0
    seed_from(t.seed)  # network initialisation depends on the seed alone
    ctx = MethodContext(tuple(d.info for d in domains), t.steps, network_for, context_channels)
    method = build_method(spec.method.name, spec.method.params, ctx)
    if prepared.init is not None:
        try:
            method.start_from(network_weights(spec.model.init_from))
        except RuntimeError as exc:  # tensors that do not fit the network
            raise UserError(f"job.json: model.init_from: {spec.model.init_from}: its weights do not fit the network ({str(exc).splitlines()[0]})") from None
    forest = None  # the pixel forest behind the pseudo-labels, the context or the blend, when a method uses one
    # The forest is one domain's (prepare refuses pseudo-labels, context and a fixed blend on
    # several); the validation gate, on by default for mean_teacher, is then left out.
    if getattr(method.params, "uses_forest", False) and spec.multi_domain:
        pass
    elif getattr(method.params, "uses_forest", False) and not method.params.maps_rasters:
        with cancel.listening():
            forest, _ = fitted_forest(run, domains[0], resume)
    elif getattr(method.params, "uses_forest", False):
        with cancel.listening():
            maps = forest_maps(run, domains[0], method.params, torch.device("cuda" if accelerator == "gpu" else "cpu"), resume)
        forest, source = maps.forest, domains[0].windows.source
        if method.params.pseudo_labels == "pixel_forest":
            source.pseudo = maps.pseudo
        if maps.context:
            source.context = maps.context
            domains[0].validator.add_context(maps.context)
    task = SegmentationTask(method, t.lr, t.steps, t.seed, t.batch_size)

    # A method that supports several domains gets every batch as {"domains": ...}, one domain or more.
    dataset = DomainWindows({d.prepared.name: d.windows for d in domains}) if method_cls.supports_domains else domains[0].windows
    workers = t.num_workers if t.num_workers is not None else _default_workers(accelerator)
    data = _StepData(dataset, spec, workers, pin=accelerator == "gpu")
    validation = Validation(
        {d.prepared.name: d.validator for d in domains}, {d.prepared.name: d.info.class_names for d in domains}, events, t.eval_interval, t.steps
    )
    checkpointing = Checkpointing(jd.last_checkpoint, t.checkpoint_interval, print_fp, cancel)

    _quiet_lightning()
    precision = lightning_precision(t.precision, accelerator)
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=device_arg,
        num_nodes=num_nodes,
        strategy=_strategy(jd, devices, num_nodes),
        plugins=[BesideItsNameCheckpointIO()],
        precision=precision,
        max_steps=t.steps,
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,  # the engine draws its own bar (StepProgressBar), one for the run
        num_sanity_val_steps=0,
        limit_val_batches=0,
        use_distributed_sampler=False,
        callbacks=[ProgressEvents(events, t.steps), validation, checkpointing] + ([] if options.quiet else [StepProgressBar()]),
    )
    _emit_start(events, spec, domains, f"{accelerator}x{world}", t.steps, start_step if resume else None)
    events.emit("phase", phase="train", message=f"{t.steps} steps of {t.batch_size} windows of {t.tile_size} px")
    cancel.check()
    with cancel.listening():
        try:
            trainer.fit(task, datamodule=data, ckpt_path=str(ckpt_path) if ckpt_path else None)
        except SIGTERMException:
            if not checkpointing.cancelled:
                raise
        if checkpointing.cancelled:
            raise Cancelled()
        if not trainer.is_global_zero:
            return {}
        networks = method.inference_networks()
        if forest is not None and method.params.forest_context:
            networks = {name: ForestContext(net, forest) for name, net in networks.items()}
        elif forest is not None:
            networks = _blended_with_forest(networks, method.params, forest, domains[0], validation, t.steps, trainer.strategy.root_device, events)
        models = {name: net.float().cpu() for name, net in networks.items()}  # exported and predicted in float32
        seconds = {name: with_network(models[name], net.float().cpu()) for name, net in method.second_opinions().items()}
        cards = export_models(run, domains, models, validation.latest, arch, prepared.encoder, seconds)
        predict_job(run, domains, cards, models, trainer.strategy.root_device, seconds)
    # A completed job resumes nothing: its checkpoint (weights and optimizer state, several times
    # the model's size) goes; model/ keeps the weights, to predict or to train again from.
    shutil.rmtree(jd.checkpoints, ignore_errors=True)
    return validation.latest


def _blended_with_forest(networks: dict, params, forest, domain: DomainData, validation: Validation, step: int, device, events: EventLog) -> dict:
    """The model to export: the network, or its blend with the job's forest (models/blend.py)
    at `forest_blend` or, with `blend_on_validation`, at the weight scoring best on the held-out
    blocks; the even blend where they cannot tell the weights apart (`choose_blend_weight`)."""
    name, weight = domain.prepared.name, params.forest_blend
    blended = ForestBlend(networks[name], forest, weight)
    matrix, alone = None, None  # the blend's confusion and the network's own (weight 0)
    if params.blend_on_validation and len(domain.validator):
        matrices = domain.validator.blend_confusions(blended, list(BLEND_WEIGHTS), device)
        miou = {w: scores(m, domain.info.class_names)["miou"] or 0.0 for w, m in matrices.items()}
        pixels = int(next(iter(matrices.values())).sum())  # the labelled pixels scored, the same at every weight
        weight, rule = choose_blend_weight(miou, pixels)
        said = "scores best on the validation blocks" if rule == "best on validation" else f"by the fall-back, {rule}"
        events.emit("phase", phase="export", message=f"forest_blend {weight} {said} (mIoU " + ", ".join(f"{w}: {v:.3f}" for w, v in miou.items()) + f"; {pixels} px)",
                    forest_blend=weight, validation_miou={str(w): v for w, v in miou.items()}, blend_rule=rule, validation_pixels=pixels)
        blended.weight, matrix, alone = weight, matrices[weight], matrices[0.0]
    if weight == 0:
        return networks
    if matrix is None and len(domain.validator):
        matrices = domain.validator.blend_confusions(blended, [0.0, weight], device)  # one pass for both
        matrix, alone = matrices[weight], matrices[0.0]
    if matrix is not None:  # the scores that go with the model are the blend's
        validation.latest[name] = {"step": step, **scores(matrix, domain.info.class_names), "confusion": matrix.tolist()}
        events.emit("metrics", split="val", **{k: v for k, v in validation.latest[name].items() if k != "confusion"})
        # ... and the network's own, which is what its ONNX export (the network alone) maps
        # like: a client says what the export leaves out before writing it (issue 41, item 3)
        network = scores(alone, domain.info.class_names)
        validation.latest[name]["network_alone"] = {k: network[k] for k in ("oa", "miou")}
    return {name: blended}


def _emit_start(events: EventLog, spec: JobSpec, domains: list[DomainData], device: str, total_steps: int, resumed_from_step: int | None, unit: str = "step") -> None:
    events.emit(
        "start",
        pid=os.getpid(),
        engine_version=__version__,
        device=device,
        total_steps=total_steps,
        unit=unit,
        resumed_from_step=resumed_from_step,
        method=spec.method.name,
        labelled_pixels=int(sum(d.index.counts.sum() for d in domains)),
        validation_blocks=sum(len(d.validator) for d in domains),
        domains=[d.prepared.name for d in domains],
    )


def _train_pixel_classifier(run: JobRun, prepared, accelerator: str) -> dict:
    """Fit `pixel_forest` (train/forest.py) on the job's one domain, score it, export and predict like a network.

    Progress counts trees: `step` is the trees grown so far, `total` all of them, `loss` null.
    """
    spec, events, cancel = run.spec, run.events, run.cancel
    t = spec.train
    params = METHODS[spec.method.name].Params.model_validate(spec.method.params)
    domain = build_domain_data(prepared.domains[0], 0, t, t.batch_size, False)
    device = torch.device("cuda" if accelerator == "gpu" else "cpu")
    seed_from(t.seed)
    _emit_start(events, spec, [domain], accelerator, params.trees, None, unit="tree")
    events.emit("phase", phase="features", message=f"filter features of at most {params.max_pixels} labelled pixels")
    started = time.monotonic()

    def on_round(trees: int) -> None:
        nonlocal started
        cancel.check()
        if trees == 0:  # features done: the clock of the trees' ETA starts now
            events.emit("phase", phase="train", message=f"growing {params.trees} trees")
            started = time.monotonic()
            return
        elapsed = time.monotonic() - started
        events.emit("progress", step=trees, total=params.trees, loss=None, parts={}, lr=None, elapsed_s=round(elapsed, 1), eta_s=round(elapsed / trees * (params.trees - trees), 1))

    with cancel.listening():
        forest, pixels = train_pixel_forest(domain.forest_data(params), on_round)
        events.emit("phase", phase="validate", message=f"forest of {params.trees} trees learnt from {pixels} labelled pixels")
        metrics = {}
        if len(domain.validator):
            matrix = domain.validator.confusion(forest, device)
            metrics[domain.prepared.name] = {"step": params.trees, **scores(matrix, domain.info.class_names), "confusion": matrix.tolist()}
            events.emit("metrics", split="val", **{k: v for k, v in metrics[domain.prepared.name].items() if k != "confusion"})
        models = {domain.prepared.name: forest}
        cards = export_models(run, [domain], models, metrics, FOREST_ARCH, FOREST_ENCODER)
        predict_job(run, [domain], cards, models, device)
        return metrics
