"""The runs explorer: rows, query, query errors, columns and sorting, delete and restore."""

from __future__ import annotations

import json
import urllib.parse

from tests.ui.conftest import get_json, make_run


def row_hashes(pg):
    return pg.eval_on_selector_all("[data-testid=run-row]", "rows => rows.map(r => r.dataset.hash)")


def texts(pg, selector):
    return pg.eval_on_selector_all(selector, "els => els.map(e => e.textContent)")


def wait_first(pg, run_hash):
    first = "h => document.querySelector('[data-testid=run-row]').dataset.hash === h"
    pg.wait_for_function(first, arg=run_hash)


def wait_rows(pg, count):
    pg.wait_for_function("n => document.querySelectorAll('[data-testid=run-row]').length === n", arg=count)


def test_table_query_and_error(repo_path, aim_up, page, shot):
    a = make_run(repo_path, "alpha", lr=0.1)
    b = make_run(repo_path, "beta", lr=0.01)
    c = make_run(repo_path, "alpha", lr=0.2)
    server = aim_up(repo_path)
    page.goto(server.url)
    wait_rows(page, 3)
    # Newest first (the default sort), with each run's experiment.
    assert row_hashes(page) == [c, b, a]
    experiments = texts(page, "[data-testid=run-experiment]")
    assert experiments == ["alpha", "beta", "alpha"]
    assert page.text_content("#runs-total") == "3 runs"
    shot(page, "all")

    page.fill("[data-testid=query-input]", "run.hparams.lr > 0.05")
    page.press("[data-testid=query-input]", "Enter")
    wait_rows(page, 2)
    assert set(row_hashes(page)) == {a, c}
    # The query is in the URL: opening that URL again shows the same view.
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert query["q"] == ["run.hparams.lr > 0.05"]
    page.reload()
    wait_rows(page, 2)
    assert page.input_value("[data-testid=query-input]") == "run.hparams.lr > 0.05"

    # A bad query: the server's message, and a caret under its column.
    bad = "run.hparams.lr >> 0.05 and"
    page.fill("[data-testid=query-input]", bad)
    page.press("[data-testid=query-input]", "Enter")
    page.wait_for_selector("[data-testid=query-error-message]")
    message = page.text_content("[data-testid=query-error-message]")
    assert "column" in message, message
    checked = page.evaluate("q => fetch('/api/query?q=' + encodeURIComponent(q)).then(r => r.json())", bad)
    caret = page.text_content("[data-testid=query-caret]")
    text_line, marker = caret.split("\n")
    assert text_line == bad
    assert f"column {checked['column']}" in message
    assert marker == " " * (checked["column"] - 1) + "^"
    assert page.is_visible("[data-testid=runs-status].error")
    shot(page, "bad-query")


def test_autocomplete_columns_and_sort(repo_path, aim_up, page, shot):
    hashes = {lr: make_run(repo_path, "e", lr=lr, steps=3) for lr in (0.3, 0.1, 0.2)}
    server = aim_up(repo_path)
    page.goto(f"{server.base}/runs")
    wait_rows(page, 3)

    # Autocomplete offers the param key from /api/info; Tab takes it.
    page.click("[data-testid=query-input]")
    page.keyboard.type("hparams.l")
    page.wait_for_selector("[data-testid=autocomplete-item]")
    items = texts(page, "[data-testid=autocomplete-item] code")
    assert "run.hparams.lr" in items
    page.fill("[data-testid=query-input]", "")
    page.keyboard.type("los")
    page.wait_for_selector("[data-testid=autocomplete-item]")
    items = texts(page, "[data-testid=autocomplete-item] code")
    assert 'run.metrics["loss", {"subset": "train"}].last' in items
    page.fill("[data-testid=query-input]", "")
    page.press("[data-testid=query-input]", "Escape")

    # A param column and a metric column from the picker.
    page.click("[data-testid=columns-button]")
    page.check('[data-column=\'["param","hparams","lr"]\']')
    page.wait_for_selector("[data-testid=run-value]")
    page.check('[data-column=\'["metric","loss",{"subset":"train"}]\']')
    page.wait_for_function("document.querySelectorAll('th[data-testid=column-header]').length === 8")
    page.mouse.click(700, 850)  # closes the picker

    # Sort by lr: ascending, then descending.
    lr_header = 'th[data-column=\'["param","hparams","lr"]\']'
    page.click(lr_header)
    page.wait_for_function(f"document.querySelector(`{lr_header}`).classList.contains('sorted')")
    wait_first(page, hashes[0.1])
    assert row_hashes(page) == [hashes[0.1], hashes[0.2], hashes[0.3]]
    values = page.eval_on_selector_all("tr[data-testid=run-row] td[data-testid=run-value]:nth-last-child(2)",
                                       "els => els.map(e => e.textContent)")
    assert values == ["0.1", "0.2", "0.3"]
    page.click(lr_header)
    wait_first(page, hashes[0.3])
    assert row_hashes(page) == [hashes[0.3], hashes[0.2], hashes[0.1]]
    # The columns and the sort are in the URL.
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert json.loads(query["sort"][0]) == ["param", "hparams", "lr"]
    assert ["param", "hparams", "lr"] in json.loads(query["cols"][0])
    shot(page, "columns")


def test_delete_then_restore(repo_path, aim_up, page, shot):
    keep = make_run(repo_path, "e", lr=0.1, steps=2)
    gone = make_run(repo_path, "e", lr=0.2, steps=2)
    server = aim_up(repo_path)
    page.goto(server.url)
    wait_rows(page, 2)
    page.check(f"tr[data-hash='{gone}'] [data-testid=row-select]")
    page.click("[data-testid=action-delete]")
    page.click("[data-testid=dialog-ok]")
    wait_rows(page, 1)
    assert row_hashes(page) == [keep]
    assert get_json(f"{server.base}/api/runs/{gone}")["deleted"] is True
    assert [r["hash"] for r in get_json(f"{server.base}/api/runs?deleted=1")["rows"]] == [gone]

    page.click("[data-testid=view-deleted]")
    wait_rows(page, 1)
    assert row_hashes(page) == [gone]
    assert "deleted=1" in page.url
    shot(page, "deleted-view")
    page.check(f"tr[data-hash='{gone}'] [data-testid=row-select]")
    page.click("[data-testid=action-restore]")
    wait_rows(page, 0)
    assert get_json(f"{server.base}/api/runs/{gone}")["deleted"] is False
    page.click("[data-testid=view-live]")
    wait_rows(page, 2)
    assert set(row_hashes(page)) == {keep, gone}


def test_tag_rename_archive(repo_path, aim_up, page):
    h = make_run(repo_path, "e", steps=2)
    server = aim_up(repo_path)
    page.goto(server.url)
    wait_rows(page, 1)
    page.check("[data-testid=row-select]")
    page.click("[data-testid=action-tag]")
    page.fill("[data-testid=dialog-input]", "best, v2")
    page.click("[data-testid=dialog-ok]")
    page.wait_for_function("document.querySelectorAll('tr[data-testid=run-row] .tag').length === 2")
    assert sorted(get_json(f"{server.base}/api/runs/{h}")["tags"]) == ["best", "v2"]
    page.click("[data-testid=action-rename]")
    page.fill("[data-testid=dialog-input]", "my run")
    page.click("[data-testid=dialog-ok]")
    page.wait_for_function("document.querySelector('[data-testid=run-link]').textContent === 'my run'")
    page.click("[data-testid=action-archive]")
    page.wait_for_function("!!document.querySelector('tr[data-testid=run-row] .badge')")
    detail = get_json(f"{server.base}/api/runs/{h}")
    assert detail["name"] == "my run" and detail["archived"] is True


def test_read_only_refuses_changes(repo_path, aim_up, page):
    make_run(repo_path, "e", steps=2)
    server = aim_up(repo_path, "--read-only")
    page.goto(server.url)
    wait_rows(page, 1)
    page.check("[data-testid=row-select]")
    assert page.is_disabled("[data-testid=action-delete]")
    assert page.is_disabled("[data-testid=action-tag]")


def test_table_refreshes_when_a_run_appears(repo_path, aim_up, page):
    first = make_run(repo_path, "e", steps=2)
    server = aim_up(repo_path)
    page.goto(server.url)
    wait_rows(page, 1)
    page.evaluate("window.__same_page = true")
    second = make_run(repo_path, "e", steps=2)  # the index changes: the page's live stream says so
    wait_rows(page, 2)
    assert row_hashes(page) == [second, first]
    assert page.evaluate("window.__same_page") is True


def test_token_url_then_cookie(repo_path, aim_up, page):
    h = make_run(repo_path, "e", steps=2)
    server = aim_up(repo_path, "--token", "t" * 24)
    assert "?token=" in server.url
    page.goto(server.url)
    wait_rows(page, 1)  # the API calls after the first load carry the cookie, not the URL
    assert row_hashes(page) == [h]
    assert "token" not in page.url  # hidden from the address bar once it became a cookie
    page.goto(f"{server.base}/run/{h}")
    page.wait_for_selector("[data-testid=params-tree]")
