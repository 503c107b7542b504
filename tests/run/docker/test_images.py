"""Images: bash where the image has it, pulls of missing images, credentials for private ones."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from typing import Any

import docker

from shipline.engine import PipelineStatus
from shipline.run.docker import DockerExecutor

DEBIAN = "shipline-test/debian-bash:bookworm"
BUSYBOX = "shipline-test/busybox:latest"


def test_the_script_runs_in_bash_when_the_image_has_it(
    run_pipeline: Callable[..., Any], docker_client: docker.DockerClient
) -> None:
    pipeline = f"""
pipelines:
  default:
    - step:
        name: Bash features
        image: {DEBIAN}
        script:
          - names=(alpha "beta gamma")
          - '[[ ${{#names[@]}} -eq 2 ]] && echo "bash $BASH_VERSION with ${{names[1]}}"'
          - test "$(git rev-parse HEAD)" = "$BITBUCKET_COMMIT" && echo "git sees the commit"
          - false
        after-script:
          - echo "after-script in bash $BASH_VERSION saw $BITBUCKET_EXIT_CODE"
"""
    ran = run_pipeline(pipeline, DockerExecutor(docker_client))
    log = ran.logs["Bash features"]
    assert ran.result.status is PipelineStatus.FAILED  # `false` fails the step, as in bash -e
    assert "bash 5." in log
    assert "with beta gamma" in log
    assert "git sees the commit" in log
    assert "after-script in bash 5." in log
    assert "saw 1" in log


def test_busybox_without_bash_runs_the_same_script_in_sh(
    run_pipeline: Callable[..., Any], docker_client: docker.DockerClient
) -> None:
    pipeline = f"""
pipelines:
  default:
    - step:
        name: Plain sh
        image: {BUSYBOX}
        script:
          - echo "bash=${{BASH_VERSION:-none}}"
"""
    ran = run_pipeline(pipeline, DockerExecutor(docker_client))
    assert ran.result.status is PipelineStatus.PASSED
    assert "bash=none" in ran.logs["Plain sh"]


def test_a_missing_image_is_pulled_from_its_registry(
    run_pipeline: Callable[..., Any], docker_client: docker.DockerClient
) -> None:
    image = f"127.0.0.1:5000/shipline-pull/busybox:{uuid.uuid4().hex[:12]}"
    subprocess.run(["docker", "tag", BUSYBOX, image], check=True)
    subprocess.run(["docker", "push", "-q", image], check=True, capture_output=True)
    subprocess.run(["docker", "rmi", image], check=True, capture_output=True)
    assert not docker_client.images.list(name=image.rsplit(":", 1)[0])
    pipeline = f"""
pipelines:
  default:
    - step:
        name: Pulled
        image: {image}
        script:
          - echo "running in the pulled image"
"""
    try:
        ran = run_pipeline(pipeline, DockerExecutor(docker_client))
        assert ran.result.status is PipelineStatus.PASSED, ran.logs
        assert "running in the pulled image" in ran.logs["Pulled"]
        assert docker_client.images.get(image)  # now present locally
    finally:
        subprocess.run(["docker", "rmi", image], capture_output=True, check=False)


def _push_private(tag: str, tmp_dir: str) -> str:
    """Push busybox to the private registry (127.0.0.1:5001) and drop the local copy."""
    image = f"127.0.0.1:5001/private/busybox:{tag}"
    login = ["docker", "--config", tmp_dir]
    subprocess.run(
        [*login, "login", "-u", "shipline", "--password-stdin", "127.0.0.1:5001"],
        input="shipline-secret",
        text=True,
        check=True,
        capture_output=True,
    )
    subprocess.run(["docker", "tag", BUSYBOX, image], check=True)
    subprocess.run([*login, "push", "-q", image], check=True, capture_output=True)
    subprocess.run(["docker", "rmi", image], check=True, capture_output=True)
    return image


PRIVATE_STEP = """
pipelines:
  default:
    - step:
        name: Private
        image:
          name: {image}
          username: shipline
          password: $REGISTRY_PASSWORD
        script:
          - echo "running in the private image"
"""


def test_a_private_image_is_pulled_with_the_steps_credentials(
    run_pipeline: Callable[..., Any], docker_client: docker.DockerClient, tmp_path: Any
) -> None:
    image = _push_private(uuid.uuid4().hex[:12], str(tmp_path / "docker-config"))
    try:
        ran = run_pipeline(
            PRIVATE_STEP.format(image=image),
            DockerExecutor(docker_client),
            variables=(("REGISTRY_PASSWORD", "shipline-secret"),),
        )
        assert ran.result.status is PipelineStatus.PASSED, ran.logs
        assert "running in the private image" in ran.logs["Private"]
    finally:
        subprocess.run(["docker", "rmi", image], capture_output=True, check=False)


def test_wrong_credentials_fail_the_step_with_a_clear_message(
    run_pipeline: Callable[..., Any], docker_client: docker.DockerClient, tmp_path: Any
) -> None:
    image = _push_private(uuid.uuid4().hex[:12], str(tmp_path / "docker-config"))
    ran = run_pipeline(
        PRIVATE_STEP.format(image=image),
        DockerExecutor(docker_client),
        variables=(("REGISTRY_PASSWORD", "not-the-password"),),
    )
    reason = ran.result.steps[ran.plan.items[0].id].reason
    assert ran.result.status is PipelineStatus.FAILED
    assert f"image {image} is not available locally and cannot be pulled" in reason
