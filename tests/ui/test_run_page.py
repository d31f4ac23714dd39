"""The run page: params tree, terminal output with ANSI colours, log records, metric and
system charts, edits (tags, name, archive) and delete/restore."""

from __future__ import annotations

from tests.ui.conftest import get_json, make_run, start_writer


def test_params_logs_and_charts(repo_path, aim_up, page, shot):
    proc, run_hash = start_writer(repo_path, "logs")
    assert proc.wait(timeout=60) == 0
    server = aim_up(repo_path)
    page.goto(f"{server.base}/run/{run_hash}")
    page.wait_for_selector("[data-testid=params-tree]")
    leaves = page.eval_on_selector_all("[data-testid=param-leaf]",
                                       "els => els.map(e => [e.dataset.path, e.textContent])")
    assert ["hparams.lr", "lr: 0.3"] in leaves
    assert ["hparams.opt.name", 'name: "adam"'] in leaves
    assert page.text_content("[data-testid=run-status]") == "finished"
    assert page.text_content("[data-testid=run-experiment]") == "logs"

    # Terminal output: the printed line, its red as a styled span, and markup shown as text.
    page.wait_for_selector("#terminal .ansi-fg-red")
    red = page.eval_on_selector("#terminal .ansi-fg-red", "e => [e.textContent, getComputedStyle(e).color]")
    assert red[0] == "red alert"
    assert red[1] != page.eval_on_selector("#terminal", "e => getComputedStyle(e).color")
    assert "then plain <b>not bold</b>" in page.text_content("#terminal")
    assert page.eval_on_selector_all("#terminal b", "els => els.length") == 0
    assert page.eval_on_selector("#terminal .ansi-bold.ansi-fg-green", "e => e.textContent") == "bold green"

    levels = page.eval_on_selector_all("[data-testid=log-record]", "els => els.map(e => [e.dataset.level, "
                                       "e.lastElementChild.textContent])")
    assert levels == [["INFO", "an info record"], ["WARNING", "a warning record"]]

    # A chart for the metric (20 points), and the system metrics in their own section.
    page.wait_for_function("(() => { const el = document.querySelector('[data-testid=metric-chart]');"
                           " return el && el.data && el.data[0].x.length === 20; })()")
    detail = get_json(f"{server.base}/api/runs/{run_hash}")
    system = sorted(s["name"] for s in detail["sequences"] if s["name"].startswith("__system__"))
    assert system
    page.wait_for_function("n => document.querySelectorAll('[data-testid=system-chart]').length === n",
                           arg=len(set(system)))
    first = page.evaluate("() => document.querySelector('[data-testid=system-chart]').data[0].x.length")
    points = {s["name"]: s["points"] for s in detail["sequences"]}
    assert first == points[system[0]]
    shot(page, "run")


def test_edit_delete_restore(repo_path, aim_up, page, shot):
    run_hash = make_run(repo_path, "e", steps=5)
    server = aim_up(repo_path)
    page.goto(f"{server.base}/run/{run_hash}")
    page.wait_for_selector("[data-testid=tag-input]")
    page.fill("[data-testid=tag-input]", "good")
    page.press("[data-testid=tag-input]", "Enter")
    page.wait_for_selector("[data-testid=run-tag]")
    assert get_json(f"{server.base}/api/runs/{run_hash}")["tags"] == ["good"]
    page.click("[data-testid=tag-remove]")
    page.wait_for_function("!document.querySelector('[data-testid=run-tag]')")
    assert get_json(f"{server.base}/api/runs/{run_hash}")["tags"] == []

    page.click("[data-testid=run-rename]")
    page.fill("[data-testid=dialog-input]", "renamed")
    page.click("[data-testid=dialog-ok]")
    page.wait_for_function("document.querySelector('[data-testid=run-name]').textContent === 'renamed'")
    page.click("[data-testid=run-describe]")
    page.fill("[data-testid=dialog-input]", "a description")
    page.click("[data-testid=dialog-ok]")
    page.wait_for_selector("[data-testid=run-description]")
    page.click("[data-testid=run-archive]")
    page.wait_for_selector("[data-testid=run-archived]")
    detail = get_json(f"{server.base}/api/runs/{run_hash}")
    assert (detail["name"], detail["description"], detail["archived"]) == ("renamed", "a description", True)

    page.click("[data-testid=run-delete]")
    page.click("[data-testid=dialog-ok]")
    page.wait_for_selector("[data-testid=run-deleted]")
    assert get_json(f"{server.base}/api/runs/{run_hash}")["deleted"] is True
    shot(page, "deleted")
    page.click("[data-testid=run-restore]")
    page.wait_for_function("!document.querySelector('[data-testid=run-deleted]')")
    assert get_json(f"{server.base}/api/runs/{run_hash}")["deleted"] is False


def test_missing_run_shows_error(repo_path, aim_up, page):
    make_run(repo_path, "e", steps=1)
    server = aim_up(repo_path)
    page.goto(f"{server.base}/run/{'0' * 24}")
    page.wait_for_selector("[data-testid=run-error]")
    assert "no run" in page.text_content("[data-testid=run-error]")


def test_running_run_is_live(repo_path, aim_up, page, shot):
    make_run(repo_path, "e", steps=1)  # the repository exists before the server starts
    server = aim_up(repo_path)
    proc, run_hash = start_writer(repo_path, "live", "8")
    try:
        page.goto(f"{server.base}/run/{run_hash}")
        page.wait_for_function("(() => { const el = document.querySelector('[data-testid=metric-chart]');"
                               " return !!(el && el.data && el.data.length); })()")
        assert page.text_content("[data-testid=run-status]") == "running"
        first = page.evaluate("() => document.querySelector('[data-testid=metric-chart]').data[0].x.length")
        grown = "n => document.querySelector('[data-testid=metric-chart]').data[0].x.length >= n + 5"
        page.wait_for_function(grown, arg=first, timeout=20_000)
        lines = page.eval_on_selector_all("#terminal .term-line", "els => els.length")
        page.wait_for_function("n => document.querySelectorAll('#terminal .term-line').length > n", arg=lines,
                               timeout=20_000)
        assert page.eval_on_selector_all("#terminal .ansi-fg-yellow", "els => els.length") >= 1
        # Its objects are live too: the notes card follows the newest text, no reload.
        note = "[data-testid=obj-card][data-kind=text] pre"
        page.wait_for_selector(note, timeout=20_000)
        seen = page.text_content(note)
        newer = ("([sel, old]) => { const el = document.querySelector(sel);"
                 " return !!el && el.textContent.startsWith('note at step') && el.textContent !== old; }")
        page.wait_for_function(newer, arg=[note, seen], timeout=20_000)
        shot(page, "live")
    finally:
        proc.wait(timeout=30)
    page.wait_for_function("document.querySelector('[data-testid=run-status]').textContent === 'finished'",
                           timeout=20_000)


def test_a_fork_shows_its_parent_and_step(repo_path, aim_up, page, shot):
    from aim import Repo
    from aim.sdk.fork import fork_run

    parent = make_run(repo_path, "p", steps=8)
    child, _ = fork_run(Repo(repo_path), parent, 4, finished=True)
    server = aim_up(repo_path)
    page.goto(f"{server.base}/run/{child}")
    page.wait_for_selector("[data-testid=run-forked-from]")
    assert page.text_content("[data-testid=run-forked-from]") == f"forked from {parent} at step 4"
    page.click("[data-testid=run-forked-from] a")
    page.wait_for_url(f"**/run/{parent}")
    page.wait_for_selector("[data-testid=run-hash]")
    assert page.text_content("[data-testid=run-hash]") == parent
    assert page.query_selector("[data-testid=run-forked-from]") is None
    shot(page, "fork")
