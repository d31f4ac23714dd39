"""LineAssembler: terminal text to log lines, as the terminal showed them."""

from hypothesis import given
from hypothesis import strategies as st

from aim.core.terminal_lines import MAX_LINE_CHARS, LineAssembler


def _final(pairs):
    return [line for line, partial in pairs if not partial]


def test_lines_split_on_newline_whatever_the_pieces():
    a = LineAssembler()
    out = a.feed("hel", 0.0) + a.feed("lo\nwor", 0.0) + a.feed("ld\n\n", 0.0)
    assert out == [("hello", False), ("world", False), ("", False)]
    assert a.flush() == []


def test_carriage_return_overwrites_like_a_terminal():
    a = LineAssembler()
    assert _final(a.feed("abcdef\rXY\n", 0.0)) == ["XYcdef"]
    assert _final(a.feed("line\r\n", 0.0)) == ["line"]


def test_a_progress_bar_of_10000_redraws_is_a_handful_of_events_with_the_exact_final_state():
    a = LineAssembler(redraw_interval=1.0)
    out = []
    for i in range(10_001):
        # 10,000 updates over 5 seconds, like tqdm: each redraw starts with \r.
        out += a.feed(f"\r{i * 100 // 10_000:3d}%|{'#' * (i // 1000):10s}| {i}/10000", i * 0.0005)
    out += a.feed("\n", 5.0)
    assert out[-1] == ("100%|##########| 10000/10000", False)
    partials = [line for line, partial in out if partial]
    assert 1 <= len(partials) <= 6 and len(out) == len(partials) + 1
    assert partials[0].startswith("  0%")


def test_unfinished_line_is_flushed_at_the_end():
    a = LineAssembler()
    assert a.feed("prompt> ", 0.0) == []
    assert a.flush() == [("prompt> ", False)]
    assert a.flush() == []


def test_endless_line_is_cut():
    a = LineAssembler()
    out = a.feed("x" * (MAX_LINE_CHARS + 10), 0.0) + a.flush()
    assert [len(line) for line, _ in out] == [MAX_LINE_CHARS, 10]


@given(st.lists(st.text(alphabet="ab\n", max_size=20), max_size=10))
def test_without_carriage_returns_the_text_is_kept_exactly(pieces):
    a = LineAssembler()
    out = []
    for p in pieces:
        out += a.feed(p, 0.0)
    out += a.flush()
    text = "".join(pieces)
    expected = text.split("\n")
    if expected[-1] == "":
        expected.pop()
    assert [line for line, partial in out] == expected and not any(p for _, p in out)
