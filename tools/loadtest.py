#!/usr/bin/env python3
"""Many processes on one repository at once: ``python tools/loadtest.py [--procs 16] [--seconds 20]``.

``--procs`` worker processes each loop until the deadline, picking at random: create a run and
track into it, resume one of their runs and track more, delete one of their runs, or list the
repository (and check that every run they finished and did not delete is listed). Beside them,
one process runs ``aim storage prune`` and, when moto and boto3 are installed, one runs
``aim runs upload`` to a moto S3 server on 127.0.0.1, both in a loop.

Each worker keeps a ledger of what it did. At the end: every run a worker finished and did not
delete has exactly the events it tracked (no loss, no duplicate, values intact, ``seq``
contiguous), every deleted run is gone or marked deleted, ``aim storage verify`` is clean, the
index equals a fresh reindex, and a last upload finds no conflict. Prints one JSON line (the
operations per second held, and the failures); exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
QUIET = {"system_tracking_interval": None, "capture_terminal_logs": False}


def value(worker: int, run_no: int, step: int) -> float:
    return float(worker * 10_000_000 + run_no * 100_000 + step)


def worker_main(repo: str, worker: int, deadline: float, ledger: str, seed: int) -> None:
    from aim import Repo, Run

    rng = random.Random(seed)
    mine: list[dict[str, Any]] = []  # {"hash", "run_no", "events", "deleted"}
    out = open(ledger, "a", buffering=1)  # noqa: SIM115 - kept open for the worker's life
    ops: dict[str, int] = {}
    failures: list[str] = []
    while time.time() < deadline:
        live = [r for r in mine if not r["deleted"]]
        op = rng.choices(["create", "resume", "delete", "list"], weights=[4, 3, 1, 2])[0]
        if op in ("resume", "delete") and not live:
            op = "create"
        if op == "create":
            n = rng.randint(50, 2000)
            run_no = len(mine)
            with Run(repo=repo, experiment=f"w{worker}", **QUIET) as run:
                run["hparams"] = {"worker": worker, "run": run_no}
                for step in range(n):
                    run.track(value(worker, run_no, step), name="loss")
            rec = {"hash": run.hash, "run_no": run_no, "events": n, "deleted": False}
            mine.append(rec)
            out.write(json.dumps({"op": "created", **rec}) + "\n")
        elif op == "resume":
            rec = rng.choice(live)
            k = rng.randint(10, 500)
            with Run(rec["hash"], repo=repo, **QUIET) as run:
                for step in range(rec["events"], rec["events"] + k):
                    run.track(value(worker, rec["run_no"], step), name="loss")
            rec["events"] += k
            out.write(json.dumps({"op": "resumed", "hash": rec["hash"], "events": rec["events"]}) + "\n")
        elif op == "delete":
            rec = rng.choice(live)
            Repo(repo).delete_run(rec["hash"])
            rec["deleted"] = True
            out.write(json.dumps({"op": "deleted", "hash": rec["hash"]}) + "\n")
        else:
            r = Repo(repo)
            listed = {row["hash"] for row in r.list_runs()}
            r.close()
            missing = [x["hash"] for x in live if x["hash"] not in listed]
            if missing:
                failures.append(f"list: worker {worker} finished runs not listed: {missing[:3]}")
        ops[op] = ops.get(op, 0) + 1
    out.write(json.dumps({"op": "summary", "ops": ops, "failures": failures}) + "\n")
    out.close()


def looper(cmd: list[str], deadline: float, log: str, env: dict[str, str]) -> None:
    runs = bad = 0
    with open(log, "a") as f:
        while time.time() < deadline:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            runs += 1
            if proc.returncode != 0:
                bad += 1
                f.write(proc.stderr)
            time.sleep(0.5)
        f.write(json.dumps({"runs": runs, "failed": bad}) + "\n")


def check(repo: str, ledgers: list[Path]) -> tuple[dict[str, int], list[str]]:
    from aim import Repo, Run

    failures: list[str] = []
    ops: dict[str, int] = {}
    expect: dict[str, dict[str, Any]] = {}
    for path in ledgers:
        worker = int(path.stem.split("-")[1])
        for line in path.read_text().splitlines():
            e = json.loads(line)
            if e["op"] == "summary":
                for k, v in e["ops"].items():
                    ops[k] = ops.get(k, 0) + v
                failures += e["failures"]
            elif e["op"] == "created":
                expect[e["hash"]] = {"worker": worker, "run_no": e["run_no"], "events": e["events"],
                                     "deleted": False}
            elif e["op"] == "resumed":
                expect[e["hash"]]["events"] = e["events"]
            elif e["op"] == "deleted":
                expect[e["hash"]]["deleted"] = True
    r = Repo(repo)
    on_disk = set(os.listdir(r.layout.runs))
    listed = {row["hash"] for row in r.list_runs()}
    for h, x in expect.items():
        if x["deleted"]:
            if h in listed:
                failures.append(f"{h}: deleted but still listed")
            continue
        if h not in on_disk:
            failures.append(f"{h}: lost (not on disk)")
            continue
        seq = Run(h, repo=repo, read_only=True).get_metric("loss")
        steps, values = (seq.steps, list(seq.values)) if seq is not None else ([], [])
        want = [value(x["worker"], x["run_no"], s) for s in range(x["events"])]
        if steps != list(range(x["events"])) or values != want:
            failures.append(f"{h}: {len(steps)} points, expected {x['events']} (lost or duplicated)")
    verify = subprocess.run([sys.executable, "-m", "aim", "storage", "verify", "--json", "--repo", repo],
                            capture_output=True, text=True)
    if verify.returncode != 0 or verify.stdout.strip():
        failures.append(f"verify: {verify.stdout.strip()[:300]} {verify.stderr.strip()[:300]}")
    before = _index_view(r)
    r.reindex()
    after = _index_view(Repo(repo))
    if before != after:
        failures.append("index differs from a fresh reindex")
    return ops, failures


def _index_view(repo: Any) -> Any:
    rows = sorted((row["hash"], row["status"], bool(row["deleted"]), row["experiment"])
                  for row in repo.list_runs(include_deleted=True))
    seqs = sorted((h, tuple(tuple(s) for s in repo.index.sequence_rows(h))) for h, *_ in rows)
    return rows, seqs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--procs", type=int, default=16)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--repo-dir", type=Path, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-s3", action="store_true", help="no concurrent upload")
    p.add_argument("--worker", nargs=5, metavar=("REPO", "N", "DEADLINE", "LEDGER", "SEED"),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        repo, n, deadline, ledger, seed = args.worker
        worker_main(repo, int(n), float(deadline), ledger, int(seed))
        return 0
    work = Path(tempfile.mkdtemp(prefix="aim-load-", dir=args.repo_dir))
    repo = str(work / "repo")
    subprocess.run([sys.executable, "-m", "aim", "init", "--repo", repo], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    server = None
    endpoint = None
    if not args.no_s3:
        try:
            import logging

            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server's request log

            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            env.update({"AWS_ACCESS_KEY_ID": "load", "AWS_SECRET_ACCESS_KEY": "load",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"})
        except ImportError:
            server = None
    t0 = time.time()
    deadline = t0 + args.seconds
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", repo, str(i), str(deadline),
                               str(work / f"ledger-{i}.jsonl"), str(args.seed * 1000 + i)], env=env)
             for i in range(args.procs)]
    prune = [sys.executable, "-m", "aim", "storage", "prune", "--repo", repo]
    loops = [threading.Thread(target=looper, args=(prune, deadline, str(work / "prune.log"), env))]
    if endpoint:
        loops.append(threading.Thread(target=looper, args=(
            [sys.executable, "-m", "aim", "runs", "upload", "loadtest", "--endpoint-url", endpoint,
             "--repo", repo], deadline, str(work / "upload.log"), env)))
    for t in loops:
        t.start()
    codes = [proc.wait() for proc in procs]
    for t in loops:
        t.join()
    elapsed = time.time() - t0
    ops, failures = check(repo, sorted(work.glob("ledger-*.jsonl")))
    failures += [f"worker {i} exited {c}" for i, c in enumerate(codes) if c != 0]
    for name in ("prune.log", "upload.log"):
        log = work / name
        if log.exists():
            lines = log.read_text().strip().splitlines()
            stats = json.loads(lines[-1]) if lines else {}
            ops[name.split(".")[0]] = stats.get("runs", 0)
            if stats.get("failed"):
                failures.append(f"{name}: {stats['failed']} failed calls: {' '.join(lines[:-1])[:300]}")
    if endpoint:
        final = subprocess.run([sys.executable, "-m", "aim", "runs", "upload", "loadtest", "--endpoint-url",
                                endpoint, "--json", "--repo", repo], capture_output=True, text=True, env=env)
        if final.returncode != 0:
            failures.append(f"final upload: {final.stderr.strip()[:300]}")
    if server is not None:
        server.stop()
    total = sum(ops.get(k, 0) for k in ("create", "resume", "delete", "list"))
    print(json.dumps({"procs": args.procs, "seconds": round(elapsed, 1), "ops": ops,
                      "ops_per_s": round(total / elapsed, 1), "failures": len(failures),
                      "first_failures": failures[:5]}))
    if not failures:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
