"""What the distributed tests share: a rank's launcher environment, and the index rows of a run."""

from __future__ import annotations

import os
from typing import Any

from aim import Repo

LAUNCHER_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "TORCHELASTIC_RUN_ID",
                  "AIM_RUN_HASH", "SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_NTASKS", "SLURM_PROCID",
                  "SLURM_LOCALID", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMI_SIZE", "PMI_RANK")


def clean_env() -> dict[str, str]:
    """This process's environment without any launcher's variables."""
    return {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARS}


def rank_env(rank: int, world: int, job: str, local_world: int = 4) -> dict[str, str]:
    """The environment ``torchrun --rdzv-id JOB`` gives rank ``rank`` of ``world``
    (``local_world`` ranks per node)."""
    env = clean_env()
    env.update(WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank % local_world),
               LOCAL_WORLD_SIZE=str(local_world), TORCHELASTIC_RUN_ID=job)
    return env


def index_snapshot(repo: Repo, run_hash: str) -> dict[str, Any]:
    """A run's rows in the index: its runs row, sequences, objects and param keys."""
    index = repo.index
    return {"run": index.run_row(run_hash), "sequences": index.sequence_rows(run_hash),
            "objects": index.object_rows(run_hash), "param_keys": index.param_key_rows(run_hash)}
