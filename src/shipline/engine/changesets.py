"""condition.changesets: does the step run for the files this commit changed?"""

from __future__ import annotations

from shipline.plan import ChangesetRule
from shipline.plan.globs import compile_glob


def condition_holds(rule: ChangesetRule | None, changed: tuple[str, ...] | None) -> bool:
    """includePaths: any changed file matches. excludePaths: not every changed file matches.

    With nothing to compare against (`changed` is None) the condition holds, as on Bitbucket.
    """
    if rule is None or changed is None:
        return True
    if rule.include_paths:
        globs = [compile_glob(p) for p in rule.include_paths]
        return any(g.matches(path) for path in changed for g in globs)
    if rule.exclude_paths:
        globs = [compile_glob(p) for p in rule.exclude_paths]
        return not all(any(g.matches(path) for g in globs) for path in changed)
    return True
