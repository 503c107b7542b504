"""Shipline: self-hosted continuous delivery that runs bitbucket-pipelines.yml unchanged."""

__version__ = "0.1.0"
