"""Run by Aim 3.29 (its own venv): every run of an Aim 3 repository, as Aim 3's own read API
returns it, as JSON on stdout: the ground truth ``tests/convert/test_aim3.py`` compares the
conversion with. Floats are given as ``float.hex`` (bit for bit), bytes as their SHA-256."""

import hashlib
import json
import math
import sys

from aim import Repo
from aim.storage.context import Context  # noqa: F401

KINDS = {"aim.image": "images", "aim.text": "texts", "aim.distribution": "distributions",
         "aim.audio": "audios", "aim.figure": "figures"}


def plain(value):
    if isinstance(value, float):
        return {"float": value.hex()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"sha256": hashlib.sha256(bytes(value)).hexdigest()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "storage"):  # an Aim 3 object: its type and fields, BLOBs loaded
        fields = {}
        for k, v in value.storage.items():
            fields[k] = plain(v.load() if hasattr(v, "load") else v)
        return {"type": value.get_typename(), "fields": fields}
    return value


def epoch(e):
    return None if e is None or (isinstance(e, float) and math.isnan(e)) else int(e)


def dump_run(run):
    out = {"hash": run.hash, "name": run.name, "experiment": run.experiment, "description": run.description,
           "tags": [t.name for t in run.props.tags_obj] if hasattr(run.props, "tags_obj") else list(run.tags),
           "archived": run.archived, "creation_time": run.creation_time, "end_time": run.end_time,
           "params": plain(run.meta_run_tree.collect("attrs") if "attrs" in run.meta_run_tree.keys() else {}),  # noqa: SIM118
           "notes": [n["content"] for n in sorted(run.props.notes, key=lambda n: n["id"])],  # as written
           "sequences": []}
    traces = run.meta_run_tree.collect("traces")
    for ctx_id, names in sorted(traces.items()):
        context = run.idx_to_ctx(ctx_id)
        for name, info in sorted(names.items()):
            dtype = info["dtype"]
            if dtype in ("float", "int"):
                seq = run.get_metric(name, context)
            elif dtype == "aim.log_line":
                seq = run.get_terminal_logs()
            elif dtype == "aim.log_record":
                seq = run.get_log_records()
            else:
                base = dtype[5:-1] if dtype.startswith("list(") else dtype  # a list of objects per step
                seq = run._get_sequence(KINDS[base], name, context)
            steps, (vals, epochs, times) = seq.data.items_list()
            out["sequences"].append({"name": name, "context": context.to_dict(), "dtype": dtype,
                                     "steps": list(map(int, steps)), "values": plain(list(vals)),
                                     "epochs": [epoch(e) for e in epochs], "times": plain(list(times))})
    return out


repo = Repo.from_path(sys.argv[1])
print(json.dumps(sorted((dump_run(r) for r in repo.iter_runs()), key=lambda d: d["hash"])))
