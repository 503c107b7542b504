"""The bitbucket-pipelines.yml format: typed model and parser."""
