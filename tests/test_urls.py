"""URL helpers: password redaction and SQLite paths relative to the project folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.urls import redact_url, sqlite_url_in


@pytest.mark.parametrize(
    "url",
    ["postgresql://ann:s3cret@db/x", "postgresql//ann:s3cret@db/x", "mysql+pymysql://a:s3cret@h"],
)
def test_passwords_are_redacted(url: str) -> None:
    assert "s3cret" not in redact_url(url) and "***" in redact_url(url)


def test_sqlite_paths_resolve_against_the_project(tmp_path: Path) -> None:
    assert sqlite_url_in("sqlite:///data/x.db", tmp_path) == f"sqlite:///{tmp_path}/data/x.db"
    assert (
        sqlite_url_in("sqlite:///./x.db?mode=ro", tmp_path) == f"sqlite:///{tmp_path}/x.db?mode=ro"
    )
    for unchanged in ("sqlite:////abs/x.db", "sqlite:///:memory:", "postgresql://h/db"):
        assert sqlite_url_in(unchanged, tmp_path) == unchanged
