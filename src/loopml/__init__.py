"""loopml: the whole life of a tabular ML model from one loopml.yaml."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml._version import __version__

if TYPE_CHECKING:
    from loopml.api import Project

__all__ = ["Project", "__version__"]


def __getattr__(name: str) -> Any:
    # Keep `import loopml` (and so `loopml --help`) free of pandas and friends.
    if name == "Project":
        from loopml.api import Project

        return Project
    raise AttributeError(f"module 'loopml' has no attribute {name!r}")
