"""The local stack: AWS on moto, created from template.yaml, with the real handlers."""
