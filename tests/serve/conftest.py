"""The trained demo project of tests/runs, shared with the deployment tests."""

from tests.runs.conftest import demo_copy, trained_demo

__all__ = ["demo_copy", "trained_demo"]
