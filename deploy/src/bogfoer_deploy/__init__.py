"""Bogfør on Kubernetes: manifests rendered from the code, offline validation, the image."""
