"""Print diagnostics the way compilers do: `file:line:col: severity: message`."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

from shipline.config import Diagnostic


def print_diagnostics(diagnostics: Iterable[Diagnostic], stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    for diagnostic in diagnostics:
        print(diagnostic.format(), file=out)
