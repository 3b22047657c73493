"""Callbacks that connect the Lightning loop to the job directory: events, validation, checkpoints, cancel."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Iterator

import lightning as L
import numpy as np
import torch
from tqdm import tqdm
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException

from semiseg.errors import Cancelled
from semiseg.io.atomic import atomic_path
from semiseg.jobs.events import EventLog
from semiseg.metrics import scores
from semiseg.train.validation import BlockValidator


class ProgressEvents(L.Callback):
    """`progress` events with loss and ETA, about 100 per run and at least every 5 seconds."""

    def __init__(self, events: EventLog, total_steps: int):
        self.events = events
        self.total = total_steps
        self.every = max(1, total_steps // 100)
        self._t0 = self._last = 0.0
        self._first_step = 0
        self._after_first: tuple[int, float] | None = None  # (step, time) at the end of the first step

    def on_train_start(self, trainer, pl_module):
        self._t0 = self._last = time.monotonic()
        self._first_step = trainer.global_step
        self._after_first = None

    def _eta(self, step: int, now: float) -> float:
        """Seconds left at the pace since the first step: that one also pays the start-up (workers,
        first reads, allocations), which made the first ETAs 1.5-2 times too long."""
        if self._after_first is None or step <= self._after_first[0]:
            return (now - self._t0) / max(1, step - self._first_step) * (self.total - step)
        first, then = self._after_first
        return (now - then) / (step - first) * (self.total - step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        now = time.monotonic()
        if self._after_first is None:
            self._after_first = (step, now)
        if step % self.every and step != self.total and now - self._last < 5:
            return
        self._last = now
        elapsed = now - self._t0
        loss = float(outputs["loss"]) if isinstance(outputs, dict) else float(outputs)
        self.events.emit(
            "progress",
            step=step,
            total=self.total,
            loss=round(loss, 5),
            parts={k: round(v, 5) for k, v in pl_module.last_parts.items()},
            lr=trainer.optimizers[0].param_groups[0]["lr"],
            elapsed_s=round(elapsed, 1),
            eta_s=round(self._eta(step, now), 1),
        )


class Validation(L.Callback):
    """Scores each domain's inference network on its held-out blocks every `every` steps and at the end."""

    def __init__(self, validators: dict[str, BlockValidator], class_names: dict[str, list[str]], events: EventLog, every: int, total_steps: int):
        self.validators = validators
        self.class_names = class_names
        self.events = events
        self.every = every
        self.total = total_steps
        self.latest: dict[str, dict] = {}  # domain -> scores of the last validation

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        if not trainer.is_global_zero or (step % self.every and step != self.total):
            return
        networks = pl_module.method.inference_networks()
        for name, validator in self.validators.items():
            if not len(validator):
                continue
            matrix = validator.confusion(networks[name], pl_module.device)
            self.latest[name] = {"step": step, **scores(matrix, self.class_names[name]), "confusion": matrix.tolist()}
            tag = {"domain": name} if len(self.validators) > 1 else {}
            self.events.emit("metrics", split="val", **tag, **{k: v for k, v in self.latest[name].items() if k != "confusion"})


class CancelFlag:
    """Set by SIGINT/SIGTERM (while `listening`) or by a `cancel` file in the job directory.

    The handlers cover the whole job, export and prediction included, so a stop request after
    the last step is honoured too; the process's own handlers come back afterwards.
    """

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, cancel_file: Path):
        self.cancel_file = cancel_file
        self._signalled = False

    @contextlib.contextmanager
    def listening(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in self._SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum, frame) -> None:
        self._signalled = True

    @property
    def is_set(self) -> bool:
        return self._signalled or self.cancel_file.exists()

    def check(self) -> None:
        """Raise Cancelled if a stop was asked: for work between or after training steps."""
        if self.is_set:
            raise Cancelled()


class BesideItsNameCheckpointIO(TorchCheckpointIO):
    """Write a checkpoint under a temporary name in its own folder, then rename it.

    Lightning's own writer stages the file in $TMPDIR: with a full temp disk training failed
    although the job directory had room, and the error named no path.
    """

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        with atomic_path(path) as tmp:  # a full disk or no permission: one line naming the checkpoint
            torch.save(checkpoint, tmp)


class Checkpointing(L.Callback):
    """A checkpoint every `every` steps and on cancel, always under a temporary name first.

    The checkpoint records the job's fingerprint so a resume with changed inputs is refused.
    """

    def __init__(self, path: Path, every: int, fingerprint: str, cancel: CancelFlag):
        self.path = path
        self.every = every
        self.fingerprint = fingerprint
        self.cancel = cancel
        self.cancelled = False

    def save(self, trainer) -> None:
        # Every rank must call save_checkpoint; rank 0 writes, through BesideItsNameCheckpointIO.
        trainer.save_checkpoint(self.path)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        checkpoint["semiseg_fingerprint"] = self.fingerprint

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        stop = trainer.strategy.reduce_boolean_decision(self.cancel.is_set, all=False)
        if stop:
            self.cancelled = True
            trainer.should_stop = True
        if stop or step % self.every == 0 or step == trainer.max_steps:
            self.save(trainer)

    def on_exception(self, trainer, pl_module, exception):
        # Lightning turns SIGTERM into SIGTERMException after the batch; keep that batch's work.
        if isinstance(exception, SIGTERMException) and not self.cancelled:
            self.cancelled = True
            self.save(trainer)


def seed_from(seed: int) -> None:
    """Seed every generator the network initialisation touches."""
    L.seed_everything(seed, workers=True, verbose=False)
    np.random.seed(seed % (2**32))
    os.environ["PYTHONHASHSEED"] = str(seed)


class StepProgressBar(L.Callback):
    """The engine's one bar for training: steps done of the run's steps, with the loss.

    Not Lightning's TQDMProgressBar (the Trainer runs with enable_progress_bar=False): that one
    draws a "Training: 0/?" bar at the start and an "Epoch N" bar for each pass over the windows,
    beside this one, and counts batches of the epoch rather than the run's steps."""

    def __init__(self):
        self.bar = None

    def on_train_start(self, trainer, pl_module):
        if trainer.is_global_zero:
            self.bar = tqdm(total=trainer.max_steps, initial=trainer.global_step, desc="train", unit="step", dynamic_ncols=True, file=sys.stdout, smoothing=0)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.bar is None:
            return
        self.bar.update(trainer.global_step - self.bar.n)
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor):
            self.bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)

    def on_train_end(self, trainer, pl_module):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_exception(self, trainer, pl_module, exception):
        self.on_train_end(trainer, pl_module)  # a cancelled run's bar ends too