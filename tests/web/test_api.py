"""The HTTP API of ``aim up``, through a real server process (the CLI entry point) on loopback:
the runs table's pages, metric series, run detail and logs, edits through the log's events,
and live updates as server-sent events."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from aim import Repo, Run
from aim.sdk.log import iter_segment_events
from aim.storage.layout import RepoLayout

QUIET = {"system_tracking_interval": None, "capture_terminal_logs": False}
LOSS = ["metric", "loss", {"subset": "train"}]


def _make(repo: Path, i: int, steps: int = 20, experiment: str | None = None) -> str:
    with Run(repo=repo, experiment=experiment or f"exp{i % 2}", **QUIET) as run:
        run["hparams"] = {"lr": 10.0 ** -i, "opt": "adam" if i % 2 else "sgd"}
        run.add_tag(f"t{i}")
        for s in range(steps):
            run.track(1.0 / (s + 1) + i, name="loss", step=s, context={"subset": "train"})
        run.track(float(i), name="acc", step=0)
    return run.hash


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.conftest import AimUp

    repo = tmp_path_factory.mktemp("api") / "repo"
    repo.mkdir()
    hashes = [_make(repo, i) for i in range(5)]
    server = AimUp(repo)
    client = httpx.Client(base_url=server.base, timeout=30)
    yield server, client, hashes, repo
    client.close()
    server.stop()


def _page(client: httpx.Client, **params: Any) -> dict[str, Any]:
    for key in ("columns", "sort"):
        if key in params and not isinstance(params[key], str):
            params[key] = json.dumps(params[key])
    r = client.get("/api/runs", params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_runs_page_lists_sorts_pages_and_shows_chosen_columns(served: Any) -> None:
    _, client, hashes, _ = served
    page = _page(client)
    assert page["total"] == 5
    assert [r["hash"] for r in page["rows"]] == hashes[::-1]  # newest first by default
    assert all(r["status"] == "finished" and r["duration"] >= 0 for r in page["rows"])

    page = _page(client, sort=["param", "hparams", "lr"], desc=0, limit=2, offset=1,
                 columns=[["param", "hparams", "lr"], LOSS, ["attr", "experiment"]])
    assert page["total"] == 5
    # lr = 10**-i: ascending lr is hashes[4], [3], [2], ...; offset 1, limit 2
    assert [r["hash"] for r in page["rows"]] == [hashes[3], hashes[2]]
    assert [r["values"] for r in page["rows"]] == [[1e-3, 1 / 20 + 3, "exp1"], [1e-2, 1 / 20 + 2, "exp0"]]
    assert page["rows"][0]["tags"] == ["t3"]

    by_loss = _page(client, sort=LOSS, desc=1)
    assert [r["hash"] for r in by_loss["rows"]] == hashes[::-1]  # loss grows with i


def test_runs_page_query_in_sql_and_in_python_agree_with_the_sdk(served: Any) -> None:
    _, client, _, repo = served
    for query in ('run.hparams.lr > 0.005 and run.experiment == "exp0"',  # SQL decides
                  'run.hparams.opt.startswith("ad")',  # SQL decides
                  're.match("exp[1]", run.experiment) is not None',  # Python decides
                  'run.metrics["loss", {"subset": "train"}].last < 2.5'):
        got = {r["hash"] for r in _page(client, q=query, limit=500)["rows"]}
        assert got == set(Repo(repo).query_runs(query).hashes()), query
        assert got  # each query matches something


def test_a_bad_query_or_column_is_a_400_with_the_message(served: Any) -> None:
    _, client, _, _ = served
    r = client.get("/api/runs", params={"q": "run.hparams.lr >"})
    assert r.status_code == 400 and r.json()["column"] == 17 and "invalid query" in r.json()["error"]
    r = client.get("/api/query", params={"q": "run.__class__"})
    assert r.status_code == 400 and "column" in r.json()
    assert client.get("/api/query", params={"q": "run.hparams.lr > 1"}).json() == {"ok": True}
    for params, words in [({"columns": '[["attr", "secret"]]'}, "no run attribute"),
                          ({"columns": "not json"}, "must be JSON"),
                          ({"sort": '["param"]'}, "path"),
                          ({"limit": "0"}, "between"),
                          ({"offset": "x"}, "integer")]:
        r = client.get("/api/runs", params=params)
        assert r.status_code == 400 and words in r.json()["error"], (params, r.text)


def test_series_are_downsampled_to_the_points_asked_for(tmp_path: Path, aim_up: Any) -> None:
    with Run(repo=tmp_path, experiment="big", **QUIET) as run:
        for s in range(5_000):
            run.track(math.sin(s / 50) + (100.0 if s == 2_501 else 0.0), name="loss", step=s, epoch=s // 1000)
        run.track(float("nan"), name="gappy", step=0)
        run.track(1.0, name="gappy", step=1)
    client = httpx.Client(base_url=aim_up(tmp_path).base, timeout=30)
    r = client.get("/api/series", params={"metrics": '[["loss", {}], ["gappy", {}]]', "points": 500})
    assert r.status_code == 200, r.text
    lines = {line["name"]: line for line in r.json()["lines"]}
    loss = lines["loss"]
    assert loss["n"] == 5_000 and len(loss["x"]) == len(loss["y"]) == len(loss["min"]) == 500
    assert max(loss["max"]) > 98 and max(loss["y"]) < 50  # the one-step spike survives in the band
    assert all(lo <= y <= hi for lo, y, hi in zip(loss["min"], loss["y"], loss["max"]))
    assert lines["gappy"]["y"] == [None, 1.0] and lines["gappy"]["min"] is None  # NaN is a gap
    epochs = client.get("/api/series", params={"metrics": '[["loss", {}]]', "x": "epoch", "points": 10}).json()
    assert epochs["lines"][0]["x"][0] == 0 and epochs["lines"][0]["x"][-1] == 4
    r = client.get("/api/series", params={"metrics": '[["loss", {}]]', "x": "wallclock"})
    assert r.status_code == 400 and "x must be one of" in r.json()["error"]


def test_run_detail_logs_and_unknown_runs(tmp_path: Path, aim_up: Any) -> None:
    with Run(repo=tmp_path, system_tracking_interval=None) as run:
        run["hparams"] = {"lr": float("inf"), "blob": b"\x01"}
        print("\x1b[31mred line\x1b[0m", flush=True)
        run.log_warning("careful")
        run.track(0.5, name="loss")
    client = httpx.Client(base_url=aim_up(tmp_path).base, timeout=30)
    detail = client.get(f"/api/runs/{run.hash}").json()
    assert detail["params"] == {"hparams": {"lr": "Infinity", "blob": "AQ=="}}  # JSON form
    assert [(s["name"], s["last"]) for s in detail["sequences"]] == [("loss", 0.5)]
    logs = client.get(f"/api/runs/{run.hash}/logs").json()
    assert "\x1b[31mred line\x1b[0m" in logs["lines"]
    assert [(r["message"], r["level"]) for r in logs["records"]] == [("careful", "WARNING")]
    assert client.get("/api/runs/" + "a" * 24).status_code == 404
    assert client.get("/api/runs/not-a-hash").status_code == 400
    assert client.get("/api/runs/%2e%2e%2f%2e%2e%2fVERSION").status_code in (400, 404)
    for path in ("/static/../../aim/__init__.py", "/static/missing.js", "/api/nothing"):
        r = client.get(path)
        assert r.status_code == 404 and "/" in r.json()["error"], path  # JSON, naming the path


def test_edits_are_the_sdks_events_and_delete_restore_round_trip(tmp_path: Path, aim_up: Any) -> None:
    h = _make(tmp_path, 1)
    before = Run(h, repo=tmp_path, read_only=True)
    server = aim_up(tmp_path)
    client = httpx.Client(base_url=server.base, timeout=30, headers={"origin": server.base})
    r = client.patch(f"/api/runs/{h}", json={"name": "renamed", "archived": True, "add_tags": ["best"],
                                              "remove_tags": ["t1"]})
    assert r.status_code == 200, r.text
    run = Run(h, repo=tmp_path, read_only=True)
    assert (run.name, run.archived, run.tags) == ("renamed", True, ["best"])
    assert (run.status, run.end_time) == (before.status, before.end_time)  # not resumed
    layout = RepoLayout(tmp_path / ".aim")
    events = [e for p in layout.segment_paths(h) for e in iter_segment_events(p)]
    assert [e["type"] for e in events[-4:]] == ["meta.set", "meta.set", "tag.added", "tag.removed"]
    assert Repo(tmp_path).index.run_row(h)["name"] == "renamed"  # the index follows

    assert client.patch(f"/api/runs/{h}", json={"archived": "yes"}).status_code == 400
    assert client.patch(f"/api/runs/{h}", json={"owner": "me"}).status_code == 400
    assert client.delete(f"/api/runs/{h}").json()["message"] == "deleted"
    assert Repo(tmp_path).get_run(h) is None
    assert [r["hash"] for r in _page(client, deleted=1)["rows"]] == [h]
    assert _page(client)["total"] == 0
    assert client.post(f"/api/runs/{h}/restore").json()["message"] == "restored"
    assert Repo(tmp_path).get_run(h) is not None and _page(client)["total"] == 1


def test_a_run_a_live_process_writes_cannot_be_edited(tmp_path: Path, aim_up: Any) -> None:
    run = Run(repo=tmp_path, **QUIET)
    run.track(1.0, name="loss")
    try:
        server = aim_up(tmp_path)
        client = httpx.Client(base_url=server.base, timeout=30, headers={"origin": server.base})
        deadline = time.time() + 10
        while _page(client)["total"] == 0 and time.time() < deadline:
            time.sleep(0.2)
        r = client.patch(f"/api/runs/{run.hash}", json={"name": "x"})
        assert r.status_code == 409 and "live process" in r.json()["error"]
        assert client.delete(f"/api/runs/{run.hash}").status_code == 409
    finally:
        run.close()
    assert Run(run.hash, repo=tmp_path, read_only=True).name is None


WRITER = """
import sys, time
from aim import Run
run = Run(repo=sys.argv[1], experiment="live", system_tracking_interval=None, capture_terminal_logs=False)
print(run.hash, flush=True)
for s in range(10_000):
    run.track(float(s), name="loss", step=s)
    if s % 10 == 9:
        time.sleep(0.1)
"""


def test_live_stream_pushes_only_new_points_of_a_running_run(tmp_path: Path, aim_up: Any) -> None:
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        h = child.stdout.readline().strip()
        server = aim_up(tmp_path)
        watch = json.dumps([[h, "loss", {}, 5]])
        got: list[dict[str, Any]] = []
        with httpx.stream("GET", f"{server.base}/api/live", params={"watch": watch}, timeout=30) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            event = None
            deadline = time.time() + 30  # heartbeats come every 15 s: the loop never blocks longer
            for line in r.iter_lines():
                assert time.time() < deadline, f"only {len(got)} points events in 30 s"
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "points":
                    got.append(json.loads(line[6:]))
                    if len(got) == 3:
                        break
        steps = [x for p in got for x in p["x"]]
        assert steps[0] == 6.0  # nothing at or before the step the page had
        assert steps == sorted(set(steps)) and steps == list(range(6, 6 + len(steps)))  # no gap, no repeat
        assert got[-1]["last_step"] == steps[-1]
    finally:
        child.kill()
        child.wait()
    r = httpx.get(f"{server.base}/api/live", params={"watch": '[["zz", "loss", {}, 0]]'})
    assert r.status_code == 400 and "invalid run hash" in r.json()["error"]
