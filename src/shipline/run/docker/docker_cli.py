"""Find a statically linked docker client on the host to mount into steps, as Bitbucket does."""

from __future__ import annotations

import functools
import shutil
import struct
from pathlib import Path

_PT_INTERP = 3


def is_static_elf(path: Path) -> bool:
    """True for a 64-bit little-endian ELF without an interpreter (runs in any image)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(64)
            if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
                return False
            phoff = struct.unpack_from("<Q", header, 32)[0]
            phentsize, phnum = struct.unpack_from("<HH", header, 54)
            handle.seek(phoff)
            table = handle.read(phentsize * phnum)
    except OSError:
        return False
    for index in range(phnum):
        (p_type,) = struct.unpack_from("<I", table, index * phentsize)
        if p_type == _PT_INTERP:
            return False
    return True


@functools.lru_cache(maxsize=1)
def static_docker_client() -> Path | None:
    candidates = [shutil.which("docker"), "/usr/local/bin/docker", "/usr/bin/docker"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and is_static_elf(Path(candidate)):
            return Path(candidate).resolve()
    return None
