"""Did-you-mean hints."""

from __future__ import annotations

from shipline.config.bitbucket import keywords as kw
from shipline.config.suggest import allowed, did_you_mean


def test_close_misspelling_is_suggested() -> None:
    assert did_you_mean("scrpt", kw.STEP_KEYS) == "did you mean 'script'?"
    assert did_you_mean("after_script", kw.STEP_KEYS) == "did you mean 'after-script'?"
    assert did_you_mean("pipeline", ["pipelines"]) == "did you mean 'pipelines'?"


def test_unrelated_word_gives_no_hint() -> None:
    assert did_you_mean("zzzzzz", kw.STEP_KEYS) == ""
    assert did_you_mean("anything", []) == ""


def test_suggestion_does_not_depend_on_set_iteration_order() -> None:
    # 'dept' is equally close to several words only if ordering leaked; it must be stable.
    choices = ["depth", "lfs", "enabled", "skip-ssl-verify"]
    assert did_you_mean("dept", choices) == did_you_mean("dept", reversed(choices))
    assert did_you_mean("dept", choices) == "did you mean 'depth'?"


def test_allowed_lists_sorted_choices() -> None:
    assert allowed(("manual", "automatic")) == "allowed: automatic, manual"
