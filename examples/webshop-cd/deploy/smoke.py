"""Check that an environment serves the commit just deployed (retrying while it starts).

Usage: smoke.py APP_URL COMMIT
"""

import sys
import time
import urllib.request

url, commit = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 30
seen = ""
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            seen = response.read().decode(errors="replace").strip()
        if commit in seen:
            print(f"smoke test passed: {url} serves {seen!r}")
            sys.exit(0)
    except OSError as exc:
        seen = f"({exc})"
    time.sleep(0.5)
sys.exit(f"smoke test failed: {url} serves {seen!r}, not webshop {commit}")
