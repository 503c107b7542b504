"""Turn a step's script list into one POSIX shell script that echoes each command.

Bitbucket runs the whole list as one script (so `if ...; then` / `fi` may sit in separate
items) and prints `+ command` before each. An echo cannot be placed inside an unfinished
compound command such as `case`, so items are grouped until the group parses on its own
(checked with `bash -n`, only for items that look compound) and the group is echoed first.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Callable, Sequence

from shipline.plan import CommandLine, PipeCall, ScriptEntry

_COMPOUND_WORDS = re.compile(
    r"(^|[;&|(]\s*)(if|then|else|elif|fi|case|esac|for|while|until|do|done|select|function)\b"
    r"|[{}()]\s*$|^\s*[{}()]|\\$|<<|[|&]{1,2}\s*$",
    re.MULTILINE,
)

PIPE_UNSUPPORTED_EXIT = 1


def _looks_simple(text: str) -> bool:
    if _COMPOUND_WORDS.search(text):
        return False
    # An unbalanced quote means the command continues in the next item.
    unquoted = re.sub(r"\\.", "", text)
    return unquoted.count("'") % 2 == 0 and unquoted.count('"') % 2 == 0


def _parses(text: str) -> bool:
    proc = subprocess.run(["bash", "-n"], input=text, text=True, capture_output=True, check=False)
    return proc.returncode == 0


def _echo(text: str) -> str:
    lines = text.split("\n")
    shown = "\n".join(["+ " + lines[0], *lines[1:]])
    return f"printf '%s\\n' {shlex.quote(shown)}"


def _pipe_command(pipe: PipeCall, executor: str) -> str:
    message = (
        f"error: pipe '{pipe.pipe}' needs the Docker executor; the {executor} executor "
        "cannot run pipes"
    )
    return f"printf '%s\\n' {shlex.quote(message)} >&2; exit {PIPE_UNSUPPORTED_EXIT}"


def render_script(
    entries: Sequence[ScriptEntry],
    *,
    executor: str = "shell",
    errexit: bool = True,
    pipe_command: Callable[[PipeCall], str] | None = None,
) -> str:
    """Render script entries as one POSIX sh script (`set -e` and `+ cmd` echoes).

    `pipe_command` turns a `- pipe:` item into shell; without one, the item fails the step
    with a message saying pipes need the Docker executor.
    """
    out: list[str] = ["set -e"] if errexit else []
    pending: list[str] = []

    def flush() -> None:
        block = "\n".join(pending)
        out.append(_echo(block))
        out.append(block)
        pending.clear()

    for entry in entries:
        if isinstance(entry, PipeCall):
            if pending:
                flush()
            out.append(_echo(f"pipe: {entry.pipe}"))
            out.append(pipe_command(entry) if pipe_command else _pipe_command(entry, executor))
            continue
        assert isinstance(entry, CommandLine)
        text = entry.text.rstrip("\n")
        if not pending and _looks_simple(text):
            out.append(_echo(text))
            out.append(text)
            continue
        pending.append(text)
        if _parses("\n".join(pending)):
            flush()
    if pending:  # never completes: run it anyway so the shell reports the syntax error
        flush()
    return "\n".join(out) + "\n"


def render_wrapper(script_path: str, after_path: str | None, meta_dir: str, shell: str) -> str:
    """The step's entry point: script, exit code, then after-script with BITBUCKET_EXIT_CODE.

    One process group holds both, so background processes started by the script are still
    there for the after-script, and a time-out or cancel kills everything at once.
    """
    lines = [
        f"{shlex.quote(shell)} {shlex.quote(script_path)}",
        "code=$?",
        f"printf '%s' \"$code\" > {shlex.quote(meta_dir + '/exit-code')}",
    ]
    if after_path:
        lines += [
            "export BITBUCKET_EXIT_CODE=$code",
            "printf '\\n%s\\n' \"after-script (BITBUCKET_EXIT_CODE=$code)\"",
            f"{shlex.quote(shell)} {shlex.quote(after_path)}",
            f"printf '%s' \"$?\" > {shlex.quote(meta_dir + '/after-exit-code')}",
        ]
    lines.append('exit "$code"')
    return "\n".join(lines) + "\n"
