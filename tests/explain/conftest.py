"""The real datasets of tests/models and the trained demo project of tests/runs, shared here."""

from tests.models.conftest import datasets
from tests.runs.conftest import demo_copy, trained_demo

__all__ = ["datasets", "demo_copy", "trained_demo"]
