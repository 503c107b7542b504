"""web.ansi: log text to safe HTML — escaped first, SGR colours as balanced spans carried from
line to line, other escape sequences and control characters dropped, `\\r` rewrites."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipline.server.web.ansi import (
    DEFAULT,
    Style,
    advance,
    advance_blocks,
    apply_sgr,
    render,
    render_line,
    render_lines,
    strip_escapes,
)

# The only markup render_line makes: spans with our classes and "#rrggbb" colours.
COLOUR = "[a-z]+:#[0-9a-f]{6}"
OUR_TAG = re.compile(
    rf'<span(?: class="[a-z0-9 -]+")?(?: style="{COLOUR}(?:;{COLOUR})?")?>|</span>'
)


def one(line: str, style: Style = DEFAULT) -> str:
    return render_line(line, style)[0]


def text_of(rendered: str) -> str:
    return html.unescape(OUR_TAG.sub("", rendered))


def test_html_in_a_log_is_escaped_before_anything_else() -> None:
    assert one("<script>alert(1)</script> & <b>x</b>") == (
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;x&lt;/b&gt;"
    )
    coloured = one('\x1b[31m<img src=x onerror="alert(1)">\x1b[0m')
    assert coloured == '<span class="ansi-fg1">&lt;img src=x onerror="alert(1)"&gt;</span>'


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("\x1b[31mred\x1b[0m plain", '<span class="ansi-fg1">red</span> plain'),
        ("\x1b[1;92;44mx", '<span class="ansi-b ansi-fg10 ansi-bg4">x</span>'),
        ("\x1b[2;3;4;9mx\x1b[22;23;24;29my", '<span class="ansi-d ansi-i ansi-u ansi-s">x</span>y'),
        ("\x1b[1mb\x1b[22mn", '<span class="ansi-b">b</span>n'),
        ("\x1b[97;107mx", '<span class="ansi-fg15 ansi-bg15">x</span>'),
        ("\x1b[38;5;3mx", '<span class="ansi-fg3">x</span>'),
        ("\x1b[38;5;208mx", '<span style="color:#ff8700">x</span>'),
        ("\x1b[48;5;244mx", '<span style="background:#808080">x</span>'),
        (
            "\x1b[38;2;10;20;30;48;2;255;0;1mx",
            '<span style="color:#0a141e;background:#ff0001">x</span>',
        ),
        (
            "\x1b[38:2::1:2:3mx\x1b[38:5:1my",
            '<span style="color:#010203">x</span><span class="ansi-fg1">y</span>',
        ),
        ("\x1b[4:0mplain", "plain"),
        (
            "\x1b[31;42mx\x1b[39my\x1b[49mz",
            '<span class="ansi-fg1 ansi-bg2">x</span><span class="ansi-bg2">y</span>z',
        ),
        ("\x1b[mreset", "reset"),
        ("\x1b[31m\x1b[32mgreen", '<span class="ansi-fg2">green</span>'),  # no empty spans
        ("\x1b[31m", ""),
    ],
)
def test_sgr_sequences_become_spans(line: str, expected: str) -> None:
    assert one(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "\x1b[38;5;999mx",  # no such palette colour
        "\x1b[38;2;300;0;0mx",
        "\x1b[38;5mx",
        "\x1b[99999999999999999999999mx",
        "\x1b[" + "9" * 5000 + "mx",  # int() refuses this many digits
        "\x1b[5;7;8;53mx",  # blink, inverse... are not shown
    ],
)
def test_odd_or_unknown_sgr_codes_are_ignored(line: str) -> None:
    assert text_of(one(line)) == "x"


def test_the_style_open_at_a_line_end_carries_into_the_next_lines() -> None:
    lines, after = render_lines(["\x1b[1;31mred", "still red", "\x1b[0mplain", "plain"])
    assert lines == [
        '<span class="ansi-b ansi-fg1">red</span>',
        '<span class="ansi-b ansi-fg1">still red</span>',
        "plain",
        "plain",
    ]
    assert after == DEFAULT
    assert render("\x1b[32mgo\non\n") == [
        '<span class="ansi-fg2">go</span>',
        '<span class="ansi-fg2">on</span>',
        "",
    ]
    assert render_line("", Style(fg=2)) == ("", Style(fg=2))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("\x1b[2K\x1b[1Gdone\x1b[?25h", "done"),  # cursor movement, erase, private modes
        ("\x1b]0;window title\x07text", "text"),  # OSC ended by BEL
        ("\x1b]8;;https://x.invalid/\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink, ST
        ("\x1b(B\x1b[mtput", "tput"),  # charset designation
        ("\x1b=\x1b>keypad", "keypad"),
        ("a\x07b\x08c\x00d\x7fe\x0bf", "abcdef"),  # control characters
        ("tab\there", "tab\there"),
        ("lone \x1b", "lone "),
        ("\x1b[<0;1;2Mmouse", "mouse"),  # "<" among CSI parameters (escaped to &lt; first)
    ],
)
def test_other_escapes_and_control_characters_are_dropped(line: str, expected: str) -> None:
    assert one(line) == expected


def test_carriage_returns_keep_what_a_terminal_would_show() -> None:
    assert one("10%\r50%\r100%") == "100%"
    assert one("crlf line\r") == "crlf line"
    assert one("done 100%\r\r") == "done 100%"
    assert one("\rstart") == "start"
    # A colour set before the last \r still colours the text after it.
    assert one("\x1b[32m 10%\r100%\x1b[0m") == '<span class="ansi-fg2">100%</span>'


def test_apply_sgr_and_advance_follow_the_same_rules() -> None:
    assert apply_sgr(DEFAULT, "1;38;5;208") == Style(bold=True, fg="#ff8700")
    assert apply_sgr(Style(bold=True, fg=1), "") == DEFAULT
    data = b"\x1b[31mred\n\x1b[0m\x1b[1mbold\nmore \x1b[44m"
    assert advance(DEFAULT, data) == Style(bold=True, bg=4)
    assert advance(Style(fg=3), b"no escapes at all") == Style(fg=3)
    assert advance(Style(fg=3), b"x\x1b[0my") == DEFAULT


def test_strip_escapes_keeps_text_and_line_breaks() -> None:
    data = b"\x1b[31mred\x1b[0m\n\x1b]0;t\x07x\x1b[2K\n\x1b(Bplain\n"
    assert strip_escapes(data) == b"red\nx\nplain\n"
    assert strip_escapes(b"nothing\n") == b"nothing\n"


# ---- properties ---------------------------------------------------------------------------

PIECES = [*"\x1b[];:?<>&\"'m0123456789 ab\r\t\x07\\/=()", "38;5;", "38;2;", "48;5;", "&lt;"]
NASTY = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)
ANY_LINE = st.one_of(NASTY, st.text(max_size=60))


def balanced(rendered: str) -> bool:
    depth = 0
    for tag in re.findall(r"</?span", rendered):
        depth += 1 if tag == "<span" else -1
        if depth not in (0, 1):  # never nested, never closed twice
            return False
    return depth == 0


@given(st.lists(ANY_LINE, max_size=6))
def test_rendered_lines_hold_no_markup_from_the_input_and_balance(lines: list[str]) -> None:
    rendered, _ = render_lines(lines)
    assert len(rendered) == len(lines)
    for out in rendered:
        rest = OUR_TAG.sub("", out)
        assert "<" not in rest
        assert ">" not in rest
        assert "\x1b" not in out
        assert balanced(out)


CODES = ["0", "1", "2", "3", "4", "22", "31", "39", "42", "49", "91", "104", "38;5;200",
         "38;2;1;2;3", "48;5;7", ""]  # fmt: skip
SGR = st.lists(st.sampled_from(CODES), min_size=1, max_size=3).map(
    lambda codes: "\x1b[" + ";".join(codes) + "m"
)
PLAIN = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=12)


@given(st.lists(st.lists(st.one_of(SGR, PLAIN), max_size=6), max_size=5))
def test_well_formed_lines_show_their_text_and_advance_agrees(pieces: list[list[str]]) -> None:
    lines = ["".join(p) for p in pieces]
    rendered, after = render_lines(lines)
    for out, parts in zip(rendered, pieces, strict=True):
        assert text_of(out) == "".join(p for p in parts if not p.startswith("\x1b"))
    data = "\n".join(lines).encode()
    assert advance(DEFAULT, data) == after
    for size in (1, 3, 7, 64):
        blocks = [data[i : i + size] for i in range(0, len(data), size)]
        assert advance_blocks(DEFAULT, blocks) == after


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    rendered = render(text)
    assert all(balanced(r) for r in rendered)
    advance(DEFAULT, data)
    advance_blocks(Style(fg=1), [data[:5], data[5:]])
    assert strip_escapes(data).count(b"\n") == data.count(b"\n")
