"""The Docker executor: each step in its image, services beside it on localhost."""

from shipline.run.docker.executor import DockerExecutor, docker_available

__all__ = ["DockerExecutor", "docker_available"]
