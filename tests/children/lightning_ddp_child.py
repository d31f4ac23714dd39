"""A real Lightning DDP training on the CPU (2 processes, gloo): ``lightning_ddp_child.py REPO``.

Lightning's launcher starts rank 1 by running this script again, so everything happens under
``__main__``. Each rank logs ``train_loss`` at every step with the value ``rank * 100 + step``
(a real forward pass, its loss detached and replaced, so that the values read back can be
checked exactly), and the integration's ``AimLogger`` writes both ranks into the job's one run.
"""

from __future__ import annotations

import sys

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from aim.pytorch_lightning import AimLogger

STEPS = 6


class Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.save_hyperparameters({"lr": 0.05, "hidden": 4})
        self.net = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", float(self.global_rank * 100 + self.global_step), on_step=True,
                 on_epoch=False)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    data = TensorDataset(torch.randn(2 * 4 * STEPS, 4), torch.randn(2 * 4 * STEPS, 1))
    logger = AimLogger(repo=sys.argv[1], experiment="ddp", system_tracking_interval=None,
                       log_system_params=False, capture_terminal_logs=False)
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=1, logger=logger,
                         log_every_n_steps=1, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(Tiny(), DataLoader(data, batch_size=4))


if __name__ == "__main__":
    main()
