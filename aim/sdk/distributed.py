"""Which run, and which stream of it, a process of a distributed job writes (docs/distributed.md).

A job launched by ``torchrun`` (and DeepSpeed, Accelerate or Lightning, which set the same
variables), by Slurm or by ``mpirun`` runs one process per rank. Each ``Run()`` in each rank
joins one logical run: rank 0 writes the run's primary stream, rank k its own stream
``rank-k``. The run's hash is derived from the job's id, so that every rank (and a restarted
job) finds the same run without talking to the others; ``AIM_RUN_HASH`` or ``run_hash=``
always wins. The n-th ``Run()`` of a process joins the job's n-th run, so a script that opens
one run per trial keeps its trials apart.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import socket
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

from aim.storage.hashes import validate_run_hash
from aim.storage.layout import PRIMARY

RANKS_ALL = "all"  # every rank writes its own stream; metrics carry {"rank": k}
RANKS_ZERO = "zero"  # only rank 0 records; the other ranks' runs record nothing
RANKS_CHOICES = (RANKS_ALL, RANKS_ZERO)
RUN_HASH_ENV = "AIM_RUN_HASH"

_opened = itertools.count()  # Run()s opened by this process without a hash: the n-th joins run n


@dataclass(frozen=True)
class JobWriter:
    """This process's place in a distributed job."""

    rank: int
    local_rank: int
    world_size: int
    node: str
    job_id: str | None  # what identifies the job (``torchrun:<id>``, ``slurm:<job>.<step>``)

    @property
    def stream(self) -> str:
        """The stream this rank writes: rank 0 the primary, rank k ``rank-k``."""
        return PRIMARY if self.rank == 0 else f"rank-{self.rank}"

    @property
    def captures_system(self) -> bool:
        """One writer per node samples the node (its CPU, memory, GPUs): local rank 0's."""
        return self.local_rank == 0


def _int(env: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        value = env.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return None


def job_from_env(env: Mapping[str, str] | None = None) -> JobWriter | None:
    """This process's rank in a job of more than one process, from the launcher's variables;
    None for a single process (a run then keeps the single-writer layout)."""
    env = os.environ if env is None else env
    world = _int(env, "WORLD_SIZE", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE")
    if world is None or world < 2:
        return None
    if env.get("WORLD_SIZE", "").strip().isdigit():  # torchrun & co (also under srun): theirs
        local = _int(env, "LOCAL_RANK")
        rank = _int(env, "RANK")
        if rank is None:
            # Lightning's own launcher sets no RANK: on one node (NODE_RANK 0) the global rank
            # is the local one; on several, it cannot be told.
            if (_int(env, "NODE_RANK") or 0) != 0 or local is None:
                warnings.warn("aim: WORLD_SIZE is set but not RANK: cannot tell this process's "
                              "rank; it records a run of its own", UserWarning, stacklevel=3)
                return None
            rank = local
    elif env.get("SLURM_NTASKS", "").strip().isdigit():
        rank = _int(env, "SLURM_PROCID") or 0
        local = _int(env, "SLURM_LOCALID")
    else:
        rank = _int(env, "OMPI_COMM_WORLD_RANK", "PMI_RANK") or 0
        local = _int(env, "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID")
    return JobWriter(rank=rank, local_rank=rank if local is None else local, world_size=world,
                     node=socket.gethostname(), job_id=_job_id(env))


def _job_id(env: Mapping[str, str]) -> str | None:
    run_id = env.get("TORCHELASTIC_RUN_ID", "").strip()
    if run_id and run_id != "none":
        return f"torchrun:{run_id}"
    job = env.get("SLURM_JOB_ID", "").strip()
    if job:
        return f"slurm:{job}.{env.get('SLURM_STEP_ID', '').strip()}"
    if run_id == "none" and env.get("LOCAL_WORLD_SIZE") == env.get("WORLD_SIZE"):
        # torchrun without --rdzv-id on one node: the ranks' one parent is the elastic agent,
        # named by its pid and its start time (a pid alone is reused); a restart keeps it.
        agent = os.getppid()
        return f"torchrun-agent:{socket.gethostname()}:{agent}:{_start_time(agent)}"
    if not run_id and "RANK" not in env and env.get("MASTER_PORT") and "LOCAL_RANK" in env:
        # Lightning's launcher (Trainer(strategy="ddp") in a script): local rank 0 is the
        # script itself, and it starts the other ranks as its children.
        root = os.getpid() if _int(env, "LOCAL_RANK") == 0 else os.getppid()
        return f"lightning:{socket.gethostname()}:{env['MASTER_PORT']}:{root}:{_start_time(root)}"
    return None


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()  # field 22: starttime
    except (OSError, IndexError):
        return "?"


def job_run_hash(job_id: str, nth: int) -> str:
    """The hash every rank of job ``job_id`` gives its ``nth`` run: 24 hex digits of a SHA-256."""
    return hashlib.sha256(f"aim-job\0{job_id}\0{nth}".encode()).hexdigest()[:24]


def resolve(run_hash: str | None, ranks: str, env: Mapping[str, str] | None = None
            ) -> tuple[str | None, JobWriter | None]:
    """The run a writer opens and its place in the job: ``(hash or None for a new random one,
    job or None for a single-writer run)``. Explicit ``run_hash=`` wins, then ``AIM_RUN_HASH``,
    then the job's derived hash."""
    if ranks not in RANKS_CHOICES:
        raise ValueError(f"ranks must be one of {RANKS_CHOICES}, got {ranks!r}")
    env = os.environ if env is None else env
    if run_hash is None and env.get(RUN_HASH_ENV, "").strip():
        run_hash = validate_run_hash(env[RUN_HASH_ENV].strip())
    job = job_from_env(env)
    if job is None:
        return run_hash, None
    if run_hash is None:
        nth = next(_opened)  # counted whether or not the job has an id: ranks stay in step
        if job.job_id is None:
            warnings.warn(
                f"aim: this process is rank {job.rank} of {job.world_size}, but the job has no id the "
                "ranks share (torchrun's --rdzv-id, SLURM_JOB_ID): each rank records a run of its own. "
                f"Set {RUN_HASH_ENV} to one run hash in every rank to record one run",
                UserWarning, stacklevel=4)
            return None, None
        run_hash = job_run_hash(job.job_id, nth)
    return run_hash, job
