"""The Lightning module shared by every method: optimiser, schedule, per-step randomness."""

from __future__ import annotations

import math

import lightning as L
import torch

from semiseg.train.methods.base import Method, StepInfo


def step_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    """Randomness of one step, derived from (seed, step) so a resumed run draws the same numbers."""
    gen = torch.Generator(device=device)
    gen.manual_seed((seed * 1_000_003 + step) % (2**63))
    return gen


class SegmentationTask(L.LightningModule):
    def __init__(self, method: Method, lr: float, total_steps: int, seed: int, batch_size: int):
        super().__init__()
        self.method = method
        self.batch_size = batch_size  # labelled windows per step (per domain), for the logged loss
        self.lr = lr
        self.total_steps = total_steps
        self.seed = seed
        self.last_parts: dict[str, float] = {}

    def _step_info(self) -> StepInfo:
        return StepInfo(self.global_step, self.total_steps, step_generator(self.seed, self.global_step, self.device))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss, parts = self.method.training_loss(batch, self._step_info())
        self.last_parts = parts
        self.log("loss", loss.detach(), prog_bar=True, on_step=True, logger=False, batch_size=self.batch_size)
        return loss

    def optimizer_step(self, *args, **kwargs) -> None:
        """The method's post-step update (EMA teacher, prototypes) belongs to the step itself:
        callbacks' batch-end hooks run before the module's, so a checkpoint or a validation
        taken there must already see it (a resumed run would otherwise drift from an unbroken one)."""
        super().optimizer_step(*args, **kwargs)
        self.method.after_optimizer_step(self._step_info())

    def configure_optimizers(self):
        params = [p for p in self.method.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=self.lr)
        floor = 0.01  # cosine decay to 1 % of the initial rate over the run

        def factor(step: int) -> float:
            t = min(1.0, step / max(1, self.total_steps))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
