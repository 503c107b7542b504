"""Log text as safe HTML: escaped first, then ANSI colours (SGR) turned into spans.

Every line is rendered on its own and its spans are closed at its end, so any range of lines
can be shown alone; the style still open at a line's end (`Style`) is handed to the next
line, so a colour that spans lines keeps spanning them. Other escape sequences (cursor moves,
OSC titles and links, charset switches) and control characters are dropped, and a line
rewritten with `\\r` (a progress bar) shows what is left after its last `\\r`.

The input is HTML-escaped before anything else, so the only markup in the output is the
`<span>` tags made here from parsed numbers: a log can never inject an element.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

Colour = int | str  # 0-15: a palette colour (a CSS class); "#rrggbb": any other colour


@dataclass(frozen=True, slots=True)
class Style:
    """The SGR attributes in effect at a point of the log."""

    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    strike: bool = False
    fg: Colour | None = None
    bg: Colour | None = None


DEFAULT = Style()

# Matched on escaped text, where "<", ">" and "&" (possible parameter, intermediate and final
# bytes) arrive as "&lt;", "&gt;" and "&amp;", and a bare "&" only ever starts one of those.
_ESCAPE = re.compile(
    r"\x1b\[(?P<params>(?:[0-9:;=?]|&lt;|&gt;)*)(?P<inter>(?:[ -%'-/]|&amp;)*)(?P<final>[@-~])"
    r"|\x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC, DCS, SOS, PM, APC: to BEL or ST
    r"|\x1b(?:[ -%'-/]|&amp;)*(?:[0-~]|&lt;|&gt;)"  # two-character escapes, charsets (ESC ( B)
    r"|[\x00-\x08\x0b-\x1f\x7f]"  # a lone ESC and other control characters (tab stays)
)
_SGR_PARAMS = re.compile(r"[0-9:;]*")
# The same sequences on raw bytes, for search and for following the style across lines.
_ESCAPE_BYTES = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[\]PX^_][^\x07\x1b\n]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]"
)
_SGR_BYTES = re.compile(rb"\x1b\[([0-9:;]*)m")
# The start of a sequence that the next block of a log completes.
_UNFINISHED = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*|[\]PX^_][^\x07\x1b]*|[ -/]*)\Z")
_RESETS = (b"\x1b[0m", b"\x1b[m")  # a full reset: nothing before it matters
_CUBE = (0, 95, 135, 175, 215, 255)  # xterm's 6x6x6 colour cube levels


def _number(field: str) -> int:
    if not field:
        return 0
    # Long digit strings are nobody's colour (and int() refuses thousands of digits).
    return int(field) if len(field) <= 6 and field.isdigit() else -1


def _palette(index: int) -> Colour | None:
    """Colour `index` of the 256-colour palette."""
    if not 0 <= index <= 255:
        return None
    if index < 16:
        return index
    if index < 232:
        index -= 16
        r, g, b = _CUBE[index // 36], _CUBE[index // 6 % 6], _CUBE[index % 6]
        return f"#{r:02x}{g:02x}{b:02x}"
    grey = 8 + 10 * (index - 232)
    return f"#{grey:02x}{grey:02x}{grey:02x}"


def _rgb(parts: list[str]) -> Colour | None:
    values = [_number(p) for p in parts]
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        return None
    return "#{:02x}{:02x}{:02x}".format(*values)


def _extended(args: list[str]) -> tuple[Colour | None, int]:
    """`5;N` or `2;R;G;B` after a 38/48: the colour and how many fields it took."""
    kind = _number(args[0]) if args else -1
    if kind == 5 and len(args) >= 2:
        return _palette(_number(args[1])), 2
    if kind == 2 and len(args) >= 4:
        return _rgb(args[1:4]), 4
    return None, len(args)  # malformed: the rest of the sequence cannot be trusted


def _extended_colon(sub: list[str]) -> Colour | None:
    """The colon form: `38:5:N`, `38:2:R:G:B` or `38:2:<colour space>:R:G:B`."""
    kind = _number(sub[0]) if sub else -1
    if kind == 5 and len(sub) >= 2:
        return _palette(_number(sub[1]))
    if kind == 2 and len(sub) >= 4:
        return _rgb(sub[-3:])
    return None


@functools.lru_cache(maxsize=4096)  # a log repeats a handful of sequences over and over
def apply_sgr(style: Style, params: str) -> Style:
    """The style after `ESC [ params m`."""
    fields = params.split(";")
    bold, dim, italic, underline, strike = (
        style.bold, style.dim, style.italic, style.underline, style.strike,
    )  # fmt: skip
    fg, bg = style.fg, style.bg
    i = 0
    while i < len(fields):
        field = fields[i]
        i += 1
        if ":" in field:
            head, *sub = field.split(":")
            code = _number(head)
            if code == 38:
                fg = _extended_colon(sub)
            elif code == 48:
                bg = _extended_colon(sub)
            elif code == 4:  # 4:0 is "no underline", 4:1..5 are underline styles
                underline = _number(sub[0]) != 0 if sub else True
            continue
        code = _number(field)
        if code == 0:
            bold = dim = italic = underline = strike = False
            fg = bg = None
        elif code == 1:
            bold = True
        elif code == 2:
            dim = True
        elif code == 3:
            italic = True
        elif code == 4:
            underline = True
        elif code == 9:
            strike = True
        elif code == 22:
            bold = dim = False
        elif code == 23:
            italic = False
        elif code == 24:
            underline = False
        elif code == 29:
            strike = False
        elif 30 <= code <= 37:
            fg = code - 30
        elif 90 <= code <= 97:
            fg = code - 90 + 8
        elif 40 <= code <= 47:
            bg = code - 40
        elif 100 <= code <= 107:
            bg = code - 100 + 8
        elif code == 39:
            fg = None
        elif code == 49:
            bg = None
        elif code in (38, 48):
            colour, used = _extended(fields[i:])
            i += used
            if code == 38:
                fg = colour
            else:
                bg = colour
        # anything else (blink, inverse, fonts...) is left out of the page
    return Style(bold, dim, italic, underline, strike, fg, bg)


@functools.lru_cache(maxsize=1024)
def _open_tag(style: Style) -> str:
    classes = [name for name, on in (("ansi-b", style.bold), ("ansi-d", style.dim),
               ("ansi-i", style.italic), ("ansi-u", style.underline),
               ("ansi-s", style.strike)) if on]  # fmt: skip
    css = []
    for prefix, colour, prop in (("fg", style.fg, "color"), ("bg", style.bg, "background")):
        if isinstance(colour, int):
            classes.append(f"ansi-{prefix}{colour}")
        elif colour is not None:
            css.append(f"{prop}:{colour}")  # only ever "#rrggbb" made by _palette/_rgb
    attrs = f' class="{" ".join(classes)}"' if classes else ""
    if css:
        attrs += f' style="{";".join(css)}"'
    return f"<span{attrs}>"


def _visible_part(line: str, style: Style) -> tuple[str, Style]:
    """What a terminal would show of a line rewritten with `\\r`: the text after the last
    one (a `\\r\\n` line ending is no rewrite), with the style the hidden text left."""
    line = line.rstrip("\r")
    if "\r" not in line:
        return line, style
    hidden, _, shown = line.rpartition("\r")
    for match in _ESCAPE.finditer(html.escape(hidden, quote=False)):
        if match["final"] == "m" and not match["inter"] and _SGR_PARAMS.fullmatch(match["params"]):
            style = apply_sgr(style, match["params"])
    return shown, style


def render_line(line: str, style: Style = DEFAULT) -> tuple[str, Style]:
    """One line (without its line break) as HTML, and the style in effect after it."""
    line, style = _visible_part(line, style)
    text = html.escape(line, quote=False)  # first, before any markup exists
    if not _ESCAPE.search(text):
        return (
            text if style == DEFAULT or not text else _open_tag(style) + text + "</span>"
        ), style
    out: list[str] = []
    is_open = False
    position = 0
    for match in _ESCAPE.finditer(text):
        chunk = text[position : match.start()]
        position = match.end()
        if chunk:
            if not is_open and style != DEFAULT:
                out.append(_open_tag(style))
                is_open = True
            out.append(chunk)
        if match["final"] == "m" and not match["inter"] and _SGR_PARAMS.fullmatch(match["params"]):
            changed = apply_sgr(style, match["params"])
            if changed != style and is_open:
                out.append("</span>")
                is_open = False
            style = changed
    chunk = text[position:]
    if chunk:
        if not is_open and style != DEFAULT:
            out.append(_open_tag(style))
            is_open = True
        out.append(chunk)
    if is_open:
        out.append("</span>")
    return "".join(out), style


def render_lines(lines: Iterable[str], style: Style = DEFAULT) -> tuple[list[str], Style]:
    """Lines as HTML, the style carried from each line into the next."""
    out = []
    for line in lines:
        rendered, style = render_line(line, style)
        out.append(rendered)
    return out, style


def render(text: str, style: Style = DEFAULT) -> list[str]:
    """A piece of log text, split at `\\n`, as one HTML string per line."""
    return render_lines(text.split("\n"), style)[0]


def advance(style: Style, data: bytes) -> Style:
    """The style after the raw log bytes `data` (their SGR sequences only, nothing shown).

    Fast on long stretches: only the sequences after the last full reset are parsed."""
    if b"\x1b[" not in data:
        return style
    last_reset = max(data.rfind(reset) for reset in _RESETS)
    if last_reset >= 0:
        style, data = DEFAULT, data[last_reset:]
    for match in _SGR_BYTES.finditer(data):
        style = apply_sgr(style, match[1].decode("ascii"))
    return style


def advance_blocks(style: Style, blocks: Iterable[bytes]) -> Style:
    """`advance` over consecutive blocks of a log, with sequences split between blocks."""
    held = b""
    for block in blocks:
        data = held + block
        # An escape sequence cut off at the block's end waits for the next block.
        tail = data.rfind(b"\x1b", max(0, len(data) - 64))
        if tail >= 0 and _UNFINISHED.match(data, tail):
            data, held = data[:tail], data[tail:]
        else:
            held = b""
        style = advance(style, data)
    return advance(style, held)


def strip_escapes(data: bytes) -> bytes:
    """Raw log bytes without their escape sequences (line breaks kept): what search sees."""
    return _ESCAPE_BYTES.sub(b"", data) if b"\x1b" in data else data
