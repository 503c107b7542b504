"""The post-receive hook of hosted repositories: tell the server which refs a push updated.

Git runs it (through `git http-backend` and `receive-pack`) with the server's address and a
per-start secret in its environment; whatever the server answers is printed, so the pusher
sees `remote: shipline: pipeline #7 … http://…` lines. Standard library only, started with
`-IS` (isolated, no site packages): it runs once per push and must start fast.
"""

from __future__ import annotations

_HOOK = """#!{python} -IS
# Installed by Shipline: report pushed refs to the server, which starts their pipelines.
import json
import os
import sys
import urllib.request

updates = []
for line in sys.stdin.read().splitlines():
    if line.strip():
        old, new, ref = line.split()
        updates.append({{"old": old, "new": new, "ref": ref}})
body = json.dumps({{"repo": os.environ["SHIPLINE_REPO"], "updates": updates}}).encode()
request = urllib.request.Request(
    os.environ["SHIPLINE_HOOK_URL"],
    data=body,
    headers={{"Content-Type": "application/json",
             "X-Shipline-Hook": os.environ["SHIPLINE_HOOK_SECRET"]}},
)
try:
    with urllib.request.urlopen(request, timeout=30) as response:
        print(response.read().decode(), end="")
except OSError as exc:
    # The push itself succeeded; say plainly that no pipeline could be started.
    print(f"shipline: could not start pipelines: {{exc}}")
"""


def hook_script(python: str) -> str:
    return _HOOK.format(python=python)
