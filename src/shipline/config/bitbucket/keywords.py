"""Bitbucket's documented keywords, their allowed values, and the ones Shipline ignores."""

from __future__ import annotations

ROOT_KEYS = frozenset(
    {"image", "clone", "options", "definitions", "pipelines", "export", "labels", "triggers"}
)
PIPELINES_KEYS = frozenset({"default", "branches", "tags", "bookmarks", "pull-requests", "custom"})
STEP_KEYS = frozenset(
    {
        "name",
        "image",
        "script",
        "after-script",
        "services",
        "caches",
        "artifacts",
        "deployment",
        "trigger",
        "size",
        "max-time",
        "clone",
        "condition",
        "runs-on",
        "oidc",
        "fail-fast",
    }
)
# Documented step keys whose meaning Shipline does not provide: accepted with a warning.
STEP_KEYS_IGNORED = {
    "runtime": "cloud runtime settings only apply on Atlassian's infrastructure",
    "concurrency-group": "concurrency groups are not enforced yet",
    "auth": "step auth scopes only apply on Atlassian's infrastructure",
    "environment": "use 'deployment' to name the deployment environment",
    "type": "child pipelines are not supported yet",
    "custom": "child pipelines are not supported yet",
    "input-variables": "child pipelines are not supported yet",
}
STAGE_KEYS = frozenset({"name", "deployment", "trigger", "condition", "steps"})
PARALLEL_KEYS = frozenset({"steps", "fail-fast"})
IMAGE_KEYS = frozenset({"name", "username", "password", "run-as-user", "aws", "email"})
AWS_KEYS = frozenset({"access-key", "secret-key", "oidc-role"})
CLONE_KEYS = frozenset({"depth", "lfs", "enabled", "skip-ssl-verify"})
OPTIONS_KEYS = frozenset({"max-time", "docker", "size", "runs-on", "runtime"})
SERVICE_KEYS = frozenset({"image", "variables", "environment", "memory", "type"})
CACHE_KEYS = frozenset({"path", "key"})
CACHE_KEY_KEYS = frozenset({"files"})
ARTIFACTS_KEYS = frozenset({"paths", "download", "upload"})
CONDITION_KEYS = frozenset({"changesets", "state"})
CHANGESETS_KEYS = frozenset({"includePaths", "excludePaths"})
VARIABLE_KEYS = frozenset({"name", "default", "allowed-values", "description"})
PIPE_KEYS = frozenset({"pipe", "variables"})
PULL_REQUEST_KEYS = frozenset({"destinations"})

SIZES = ("1x", "2x", "4x", "8x", "16x", "32x")
TRIGGERS = ("automatic", "manual")
STANDARD_ENVIRONMENTS = ("test", "staging", "production")

# Predefined caches, as Atlassian documents them (paths inside the build container).
PREDEFINED_CACHES: dict[str, str] = {
    "composer": "~/.composer/cache",
    "dotnetcore": "~/.nuget/packages",
    "gradle": "~/.gradle/caches",
    "gradlewrapper": "~/.gradle/wrapper",
    "ivy2": "~/.ivy2/cache",
    "maven": "~/.m2/repository",
    "node": "node_modules",
    "pip": "~/.cache/pip",
    "sbt": "~/.sbt",
    "docker": "/var/lib/docker",
}
PREDEFINED_SERVICES = frozenset({"docker"})
MAX_SERVICES = 5
MAX_STEPS = 100
