"""The keyword tables agree with each other and with what the parser accepts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shipline.config import ParseResult
from shipline.config.bitbucket import keywords as kw

Parse = Callable[[str], ParseResult]


def test_ignored_step_keys_are_not_also_supported() -> None:
    assert kw.STEP_KEYS.isdisjoint(kw.STEP_KEYS_IGNORED)
    assert all(reason for reason in kw.STEP_KEYS_IGNORED.values())


def test_documented_values() -> None:
    assert kw.SIZES == ("1x", "2x", "4x", "8x", "16x", "32x")
    assert kw.TRIGGERS == ("automatic", "manual")
    assert frozenset({"docker"}) == kw.PREDEFINED_SERVICES
    assert kw.PREDEFINED_CACHES["pip"] == "~/.cache/pip"
    assert kw.PREDEFINED_CACHES["node"] == "node_modules"
    assert kw.PREDEFINED_CACHES["docker"] == "/var/lib/docker"


# One acceptable value per step key, so a key in STEP_KEYS that the parser forgot to read
# (or to list) shows up as an "unknown key" error here.
STEP_VALUES = {
    "name": "n",
    "image": "alpine",
    "script": "[make]",
    "after-script": "[ls]",
    "services": "[docker]",
    "caches": "[pip]",
    "artifacts": "[out/**]",
    "deployment": "test",
    "trigger": "manual",
    "size": "2x",
    "max-time": "5",
    "clone": "{depth: 1}",
    "condition": "{changesets: {includePaths: [a]}}",
    "runs-on": "[linux]",
    "oidc": "true",
    "fail-fast": "true",
}


def test_every_step_key_has_a_sample() -> None:
    assert set(STEP_VALUES) == kw.STEP_KEYS


@pytest.mark.parametrize("key", sorted(kw.STEP_KEYS - {"script"}))
def test_each_step_key_is_accepted(parse: Parse, key: str) -> None:
    result = parse(
        f"pipelines:\n  default:\n    - step:\n        script: [make]\n"
        f"        {key}: {STEP_VALUES[key]}\n"
    )
    assert result.diagnostics == (), [d.format() for d in result.diagnostics]


@pytest.mark.parametrize(
    ("section", "keys", "samples"),
    [
        ("clone", kw.CLONE_KEYS, {"depth": "1", "lfs": "true", "enabled": "true"}),
        ("options", kw.OPTIONS_KEYS - {"runtime"}, {"max-time": "5", "docker": "true"}),
    ],
)
def test_section_keys_are_accepted(
    parse: Parse, section: str, keys: frozenset[str], samples: dict[str, str]
) -> None:
    values = {"skip-ssl-verify": "true", "size": "2x", "runs-on": "linux", **samples}
    body = "".join(f"  {key}: {values[key]}\n" for key in sorted(keys))
    result = parse(f"{section}:\n{body}pipelines:\n  default:\n    - step: {{script: [x]}}\n")
    assert result.diagnostics == (), [d.format() for d in result.diagnostics]
