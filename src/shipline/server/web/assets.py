"""Third-party browser libraries the UI uses, fetched at install time, pinned and verified.

htmx (and its SSE extension) come from the npm registry as the release tarballs their
authors publish; each is checked against the sha512 integrity value npm records before a
file is extracted, so what the UI serves is exactly that release. Run by scripts/install:
`python -m shipline.server.web.assets`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

VENDOR = Path(__file__).parent / "static" / "vendor"


@dataclass(frozen=True)
class Asset:
    name: str  # the file under static/vendor/
    tarball: str
    integrity: str  # npm's "sha512-<base64>"
    member: str  # the file inside the tarball


ASSETS = (
    Asset(
        "htmx.min.js",
        "https://registry.npmjs.org/htmx.org/-/htmx.org-2.0.11.tgz",
        "sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==",
        "package/dist/htmx.min.js",
    ),
    Asset(
        "htmx-ext-sse.js",
        "https://registry.npmjs.org/htmx-ext-sse/-/htmx-ext-sse-2.2.4.tgz",
        "sha512-LJmxVhykyflBWgh5PvbRidcyuqMHlgfajmmzumvKctv9puvsufeH6OaejSMZTNTnEI8O2wXXn4ZZtBdpEMqmEQ==",
        "package/dist/sse.js",
    ),
)


def missing(vendor: Path = VENDOR) -> list[Asset]:
    return [asset for asset in ASSETS if not (vendor / asset.name).is_file()]


def fetch(asset: Asset, vendor: Path = VENDOR) -> None:
    with urllib.request.urlopen(asset.tarball, timeout=60) as response:
        data = response.read()
    algorithm, _, expected = asset.integrity.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if digest != expected:
        raise SystemExit(f"{asset.tarball}: integrity check failed (got {algorithm}-{digest})")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        member = archive.extractfile(asset.member)
        if member is None:
            raise SystemExit(f"{asset.tarball} holds no {asset.member}")
        content = member.read()
    vendor.mkdir(parents=True, exist_ok=True)
    (vendor / asset.name).write_bytes(content)


def main() -> None:
    for asset in missing():
        print(f"fetching {asset.name} from {asset.tarball}", file=sys.stderr)
        fetch(asset)


if __name__ == "__main__":
    main()
