"""Metadata store: SQLAlchemy tables for datasets, profiles, splits and runs, with migrations."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.errors import NotFoundError, StoreError
from loopml.urls import redact_url

metadata = sa.MetaData()


def _artifact_columns() -> list[sa.Column]:
    """Where a row's artifact lives (`ArtifactRef.as_row`), and when the row was made."""
    return [
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("artifact_path", sa.String(255), nullable=False),
        sa.Column("artifact_size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    ]


schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.String(32), nullable=False),
)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # raw | cleaned
    sa.Column("parent_version", sa.String(64), sa.ForeignKey("datasets.version"), nullable=True),
    sa.Column("source", sa.JSON, nullable=False),
    sa.Column("operations", sa.JSON, nullable=False),
    sa.Column("operations_hash", sa.String(64), nullable=True),
    sa.Column("n_rows", sa.BigInteger, nullable=False),
    sa.Column("n_columns", sa.Integer, nullable=False),
    sa.Column("columns", sa.JSON, nullable=False),
    *_artifact_columns(),
    sa.Index("ix_datasets_parent", "parent_version"),
)

profiles = sa.Table(
    "profiles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset_version", sa.String(64), sa.ForeignKey("datasets.version"), nullable=False),
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("findings", sa.JSON, nullable=False),
    sa.Column("report_sha256", sa.String(64), nullable=True),
    sa.Column("report_path", sa.String(255), nullable=True),
    sa.Column("created_at", sa.String(32), nullable=False),
)

splits = sa.Table(
    "splits",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("dataset_version", sa.String(64), sa.ForeignKey("datasets.version"), nullable=False),
    sa.Column("strategy", sa.String(16), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("counts", sa.JSON, nullable=False),
    *_artifact_columns(),
    sa.Index("ix_splits_dataset", "dataset_version"),
)

test_access = sa.Table(
    "test_access",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("split_id", sa.String(64), sa.ForeignKey("splits.id"), nullable=False),
    sa.Column("purpose", sa.String(255), nullable=False),
    sa.Column("at", sa.String(32), nullable=False),
)


def _migration_1(conn: Connection) -> None:
    # Tables are created from their v1 definitions (indexes included).
    for table in (datasets, profiles, splits, test_access):
        table.create(conn)


# -- schema 2: experiment tracking ---------------------------------------------------------
# A run's id is a uuid4 hex (32 characters): a run is an event, not content, so two runs of
# the same spec on the same data are distinct runs. Refs work as for datasets (≥ 6 hex
# characters of the id, or `latest` = most recently started).
RUN_STATUSES = ("running", "complete", "failed")
TRIAL_STATUSES = ("complete", "failed", "pruned")


def _status_check(name: str, allowed: tuple[str, ...]) -> sa.CheckConstraint:
    values = ", ".join(f"'{value}'" for value in allowed)
    return sa.CheckConstraint(f"status IN ({values})", name=name)


runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # uuid4 hex
    sa.Column("project", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("spec_hash", sa.String(64), nullable=False),
    sa.Column("dataset_version", sa.String(64), sa.ForeignKey("datasets.version"), nullable=False),
    sa.Column("split_id", sa.String(64), sa.ForeignKey("splits.id"), nullable=False),
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("time_budget_s", sa.Float, nullable=True),
    # python, packages {name: version}, platform, git_commit (null outside a git checkout)
    sa.Column("environment", sa.JSON, nullable=False),
    # family, params, model (artifact ref as a row, or null)
    sa.Column("chosen", sa.JSON, nullable=True),
    sa.Column("leaderboard", sa.JSON, nullable=True),
    sa.Column("test_metrics", sa.JSON, nullable=True),
    sa.Column("baseline_test_metrics", sa.JSON, nullable=True),
    sa.Column("report_path", sa.String(255), nullable=True),
    sa.Column("started_at", sa.String(32), nullable=False),
    sa.Column("finished_at", sa.String(32), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    _status_check("ck_runs_status", RUN_STATUSES),
    sa.Index("ix_runs_started_at", "started_at"),
    sa.Index("ix_runs_dataset", "dataset_version"),
)

trials = sa.Table(
    "trials",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("family", sa.String(64), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("fold_scores", sa.JSON, nullable=False),
    sa.Column("score", sa.Float, nullable=True),  # null for failed trials
    sa.Column("fit_s", sa.Float, nullable=True),
    sa.Column("predict_s", sa.Float, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", sa.String(32), nullable=False),
    _status_check("ck_trials_status", TRIAL_STATUSES),
    sa.UniqueConstraint("run_id", "number", name="uq_trials_run_number"),
    sa.Index("ix_trials_run", "run_id"),
)


def _migration_2(conn: Connection) -> None:
    # Tables are created from their v2 definitions; a later change to them needs its own
    # migration (ALTER), and this one must then keep creating the v2 shape.
    for table in (runs, trials):
        table.create(conn)


# -- schema 3: the model registry ---------------------------------------------------------

# A model version is the chosen model of one complete run, numbered 1, 2, ... per project.
# Its artifact is the deployment model (refit on every row when the run did so).
model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), nullable=False, unique=True),
    sa.Column("dataset_version", sa.String(64), sa.ForeignKey("datasets.version"), nullable=False),
    sa.Column("split_id", sa.String(64), sa.ForeignKey("splits.id"), nullable=False),
    sa.Column("task", sa.String(16), nullable=False),
    sa.Column("metric", sa.String(32), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),  # e.g. "lightgbm #7", "ensemble of 3"
    sa.Column("refit_all", sa.Boolean, nullable=False),
    sa.Column("test_metrics", sa.JSON, nullable=False),
    sa.Column("baseline_metrics", sa.JSON, nullable=False),
    sa.Column("goals", sa.JSON, nullable=False),
    sa.Column("signature", sa.JSON, nullable=False),
    sa.Column("reference", sa.JSON, nullable=True),  # statistics monitoring compares with
    sa.Column("card", sa.JSON, nullable=False),
    *_artifact_columns(),
    sa.UniqueConstraint("project", "version", name="uq_model_versions_project_version"),
)

aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("project", sa.String(255), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
)

# Every alias change, append-only: who moved which alias from where to where, and why.
alias_events = sa.Table(
    "alias_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project", sa.String(255), nullable=False),
    sa.Column("alias", sa.String(64), nullable=False),
    sa.Column("action", sa.String(8), nullable=False),
    sa.Column("from_version", sa.Integer, nullable=True),
    sa.Column("to_version", sa.Integer, nullable=True),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("forced", sa.Boolean, nullable=False),
    sa.Column("at", sa.String(32), nullable=False),
    sa.CheckConstraint("action IN ('set', 'move', 'remove')", name="ck_alias_events_action"),
    sa.Index("ix_alias_events_alias", "project", "alias"),
)


def _migration_3(conn: Connection) -> None:
    # Tables are created from their v3 definitions; later changes need their own migration.
    for table in (model_versions, aliases, alias_events):
        table.create(conn)


# Every `loopml monitor` check: the window, what it found, and the alerts it raised.
monitor_checks = sa.Table(
    "monitor_checks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("since", sa.String(40), nullable=True),
    sa.Column("until", sa.String(40), nullable=True),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("dataset_drift", sa.Boolean, nullable=False),
    sa.Column("alerts", sa.JSON, nullable=False),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("checked_at", sa.String(32), nullable=False),
    sa.Index("ix_monitor_checks_project", "project", "version"),
)


def _migration_4(conn: Connection) -> None:
    monitor_checks.create(conn)


# Every `loopml retrain`: what triggered it, the data, the run, both scores and the decision.
RETRAIN_DECISIONS = ("promoted", "kept")
retrain_decisions = sa.Table(
    "retrain_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("project", sa.String(255), nullable=False),
    sa.Column("trigger", sa.String(16), nullable=False),  # manual | monitor
    sa.Column("monitor_check_id", sa.Integer, sa.ForeignKey("monitor_checks.id"), nullable=True),
    sa.Column("alerts", sa.JSON, nullable=False),  # the check's alerts ([] when manual)
    sa.Column("champion_version", sa.Integer, nullable=False),
    sa.Column("challenger_version", sa.Integer, nullable=False),
    sa.Column("dataset_version", sa.String(64), sa.ForeignKey("datasets.version"), nullable=False),
    sa.Column("split_id", sa.String(64), sa.ForeignKey("splits.id"), nullable=False),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("metric", sa.String(32), nullable=False),
    sa.Column("champion_score", sa.Float, nullable=True),  # null when undefined (NaN)
    sa.Column("challenger_score", sa.Float, nullable=True),
    sa.Column("margin", sa.Float, nullable=False),
    sa.Column("holdout_rows", sa.Integer, nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),
    # the data policy and its lineage, row counts, settings, baseline score
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("at", sa.String(32), nullable=False),
    sa.CheckConstraint("decision IN ('promoted', 'kept')", name="ck_retrain_decisions_decision"),
    sa.Index("ix_retrain_decisions_project", "project", "challenger_version"),
)


def _migration_5(conn: Connection) -> None:
    retrain_decisions.create(conn)


# Append-only: migration N brings a store from schema N-1 to N. Never edit a published one.
MIGRATIONS: list[Callable[[Connection], None]] = [
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
]
SCHEMA_VERSION = len(MIGRATIONS)


def utcnow() -> str:
    """The current UTC time as ISO-8601 with microseconds (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def create_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise StoreError(
            f"`store.metadata` URL {redact_url(url)!r} is not usable: {redact_url(str(exc))}"
        ) from exc
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
            # loopml emits BEGIN itself (below), so write transactions can take the write
            # lock up front instead of failing to upgrade a read lock under contention.
            dbapi_conn.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            immediate = conn.info.pop("write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextlib.contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction (on SQLite it holds the write lock from its start)."""
    with engine.connect() as conn:
        conn.info["write"] = True
        with conn.begin():
            yield conn


class MetadataStore:
    """Typed access to the metadata tables; opening it applies pending migrations."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self._migrate()

    def _schema_version(self) -> int:
        try:
            with writing(self.engine) as conn:
                schema_migrations.create(conn, checkfirst=True)
                current = conn.execute(sa.select(sa.func.max(schema_migrations.c.version))).scalar()
        except sa.exc.DBAPIError as exc:
            raise StoreError(
                f"cannot open the metadata store {redact_url(self.url)}: {exc.orig}"
            ) from exc
        current = current or 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"the metadata store {redact_url(self.url)} has schema {current}, newer than "
                f"this loopml knows ({SCHEMA_VERSION}); upgrade loopml"
            )
        return current

    def _migrate(self) -> None:
        # Each migration commits with its record. Two processes opening a fresh store may
        # race: the loser's DDL fails, and it re-reads the version the winner recorded.
        for attempt in range(20):
            try:
                current = self._schema_version()
                if current == SCHEMA_VERSION:
                    return
                with writing(self.engine) as conn:
                    MIGRATIONS[current](conn)
                    conn.execute(
                        schema_migrations.insert().values(version=current + 1, applied_at=utcnow())
                    )
            except (sa.exc.DBAPIError, StoreError) as exc:
                if not any(m in str(exc) for m in ("already exists", "UNIQUE", "locked")):
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise StoreError(f"could not migrate the metadata store {redact_url(self.url)}")

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    # datasets -------------------------------------------------------------------------
    def add_dataset(self, row: dict[str, Any]) -> None:
        """Record a dataset version (idempotent: an existing version is left as it is)."""
        with writing(self.engine) as conn:
            exists = conn.execute(
                sa.select(datasets.c.version).where(datasets.c.version == row["version"])
            ).first()
            if exists is None:
                conn.execute(datasets.insert().values(created_at=utcnow(), **row))

    def dataset(self, ref: str) -> dict[str, Any]:
        """A dataset version by full id, unique prefix (≥ 6 characters), or `latest`."""
        return self._by_ref(
            datasets, datasets.c.version, ref, "dataset version", "loopml data list"
        )

    def datasets(self) -> list[dict[str, Any]]:
        """All dataset versions, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(datasets).order_by(datasets.c.created_at.desc()))
            return [dict(r._mapping) for r in rows]

    def cleaned_child(self, parent: str, operations_hash: str) -> dict[str, Any] | None:
        """The cleaned version already made from `parent` with the same cleaning, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(datasets)
                .where(datasets.c.parent_version == parent)
                .where(datasets.c.operations_hash == operations_hash)
                .order_by(datasets.c.created_at.desc())
            ).first()
            return dict(row._mapping) if row else None

    # profiles ---------------------------------------------------------------------------
    def add_profile(self, row: dict[str, Any]) -> int:
        """Record a profile of a dataset version; returns its id."""
        with writing(self.engine) as conn:
            result = conn.execute(profiles.insert().values(created_at=utcnow(), **row))
            return int(result.inserted_primary_key[0])

    def profiles(self, dataset_version: str) -> list[dict[str, Any]]:
        """Profiles of a dataset version, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(profiles)
                .where(profiles.c.dataset_version == dataset_version)
                .order_by(profiles.c.id.desc())
            )
            return [dict(r._mapping) for r in rows]

    # splits -----------------------------------------------------------------------------
    def add_split(self, row: dict[str, Any]) -> None:
        """Record a split (idempotent by id)."""
        with writing(self.engine) as conn:
            exists = conn.execute(sa.select(splits.c.id).where(splits.c.id == row["id"])).first()
            if exists is None:
                conn.execute(splits.insert().values(created_at=utcnow(), **row))

    def split(self, ref: str) -> dict[str, Any]:
        """A split by id, unique prefix, or `latest`."""
        return self._by_ref(splits, splits.c.id, ref, "split", "loopml data show")

    def splits(self, dataset_version: str | None = None) -> list[dict[str, Any]]:
        """Splits, newest first, optionally of one dataset version."""
        query = sa.select(splits).order_by(splits.c.created_at.desc())
        if dataset_version is not None:
            query = query.where(splits.c.dataset_version == dataset_version)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def add_test_access(self, split_id: str, purpose: str) -> None:
        """Log that the sealed test part of a split was opened, and why."""
        with writing(self.engine) as conn:
            conn.execute(
                test_access.insert().values(split_id=split_id, purpose=purpose, at=utcnow())
            )

    def test_accesses(self, split_id: str) -> list[dict[str, Any]]:
        """Every recorded opening of a split's test part."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(test_access)
                .where(test_access.c.split_id == split_id)
                .order_by(test_access.c.id)
            )
            return [dict(r._mapping) for r in rows]

    # runs and trials ----------------------------------------------------------------------
    def add_run(self, row: dict[str, Any]) -> str:
        """Record a run; returns its id (a new uuid4 hex unless `row` gives one).

        `status` defaults to `running` and `started_at` to now.
        """
        values = {"status": "running", "started_at": utcnow(), **row}
        values.setdefault("id", uuid.uuid4().hex)
        with writing(self.engine) as conn:
            conn.execute(runs.insert().values(**values))
        return str(values["id"])

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set `fields` of the run `run_id` (a full id), e.g. status, chosen, finished_at."""
        unknown = sorted(set(fields) - set(runs.c.keys()) | ({"id"} & set(fields)))
        if unknown:
            raise ValueError(f"cannot update run column(s): {', '.join(unknown)}")
        if not fields:
            return
        with writing(self.engine) as conn:
            result = conn.execute(runs.update().where(runs.c.id == run_id).values(**fields))
            if result.rowcount == 0:
                raise NotFoundError(f"no run {run_id!r}; see `loopml runs list` for what exists")

    def run(self, ref: str) -> dict[str, Any]:
        """A run by id, unique prefix (≥ 6 characters), or `latest` (most recently started)."""
        return self._by_ref(
            runs, runs.c.id, ref, "run", "loopml runs list", newest=runs.c.started_at
        )

    def runs(self) -> list[dict[str, Any]]:
        """All runs, newest (most recently started) first."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.id))
            return [dict(r._mapping) for r in rows]

    def add_trial(self, row: dict[str, Any]) -> int:
        """Record one trial of a run; returns its id. `fold_scores` defaults to []."""
        values = {"fold_scores": [], "created_at": utcnow(), **row}
        with writing(self.engine) as conn:
            result = conn.execute(trials.insert().values(**values))
            return int(result.inserted_primary_key[0])

    def trials(self, run_id: str) -> list[dict[str, Any]]:
        """The trials of a run (full id), in trial-number order."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(trials).where(trials.c.run_id == run_id).order_by(trials.c.number)
            )
            return [dict(r._mapping) for r in rows]

    # model registry -----------------------------------------------------------------------
    def add_model_version(self, row: dict[str, Any]) -> int:
        """Record a model version; returns its number (one more than the project's last)."""
        with writing(self.engine) as conn:
            last = conn.execute(
                sa.select(sa.func.max(model_versions.c.version)).where(
                    model_versions.c.project == row["project"]
                )
            ).scalar()
            number = (last or 0) + 1
            values = {"created_at": utcnow(), **row, "version": number}
            conn.execute(model_versions.insert().values(**values))
        return number

    def model_versions(self, project: str) -> list[dict[str, Any]]:
        """The project's model versions, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(model_versions)
                .where(model_versions.c.project == project)
                .order_by(model_versions.c.version.desc())
            )
            return [dict(r._mapping) for r in rows]

    def model_version(self, project: str, version: int) -> dict[str, Any] | None:
        """One model version of the project, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(model_versions).where(
                    model_versions.c.project == project, model_versions.c.version == version
                )
            ).first()
            return None if row is None else dict(row._mapping)

    def aliases(self, project: str) -> dict[str, int]:
        """The project's aliases: name -> version."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(aliases).where(aliases.c.project == project))
            return {r.name: r.version for r in rows}

    def move_alias(
        self,
        project: str,
        alias: str,
        version: int | None,
        *,
        actor: str,
        reason: str | None = None,
        forced: bool = False,
    ) -> dict[str, Any]:
        """Point `alias` at `version` (None removes it) and log the change; returns the event."""
        now = utcnow()
        with writing(self.engine) as conn:
            where = (aliases.c.project == project) & (aliases.c.name == alias)
            current = conn.execute(sa.select(aliases.c.version).where(where)).scalar()
            if version is None:
                if current is None:
                    raise NotFoundError(f"no alias `{alias}`; see `loopml models list`")
                conn.execute(aliases.delete().where(where))
                action = "remove"
            elif current is None:
                conn.execute(
                    aliases.insert().values(
                        project=project, name=alias, version=version, updated_at=now
                    )
                )
                action = "set"
            else:
                conn.execute(aliases.update().where(where).values(version=version, updated_at=now))
                action = "move"
            event = {
                "project": project,
                "alias": alias,
                "action": action,
                "from_version": current,
                "to_version": version,
                "actor": actor,
                "reason": reason,
                "forced": forced,
                "at": now,
            }
            conn.execute(alias_events.insert().values(**event))
        return event

    def alias_events(self, project: str, alias: str | None = None) -> list[dict[str, Any]]:
        """The audit log of alias changes, newest first (of one alias when given)."""
        query = sa.select(alias_events).where(alias_events.c.project == project)
        if alias is not None:
            query = query.where(alias_events.c.alias == alias)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(alias_events.c.id.desc()))
            return [dict(r._mapping) for r in rows]

    def add_monitor_check(self, row: dict[str, Any]) -> int:
        """Record one monitoring check; returns its id."""
        with writing(self.engine) as conn:
            result = conn.execute(sa.insert(monitor_checks).values(checked_at=utcnow(), **row))
            return int(result.inserted_primary_key[0])

    def monitor_checks(self, project: str, version: int | None = None) -> list[dict[str, Any]]:
        """The monitoring checks of a project (of one version when given), newest first."""
        query = sa.select(monitor_checks).where(monitor_checks.c.project == project)
        if version is not None:
            query = query.where(monitor_checks.c.version == version)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(monitor_checks.c.id.desc()))
            return [dict(r._mapping) for r in rows]

    def add_retrain_decision(self, row: dict[str, Any]) -> int:
        """Record one retrain decision; returns its id."""
        with writing(self.engine) as conn:
            values = {"at": utcnow(), **row}
            result = conn.execute(sa.insert(retrain_decisions).values(**values))
            return int(result.inserted_primary_key[0])

    def update_retrain_decision(self, decision_id: int, **fields: Any) -> None:
        """Change fields of a recorded retrain decision (a promotion that failed after it)."""
        with writing(self.engine) as conn:
            conn.execute(
                retrain_decisions.update()
                .where(retrain_decisions.c.id == decision_id)
                .values(**fields)
            )

    def retrain_decisions(
        self, project: str, challenger_version: int | None = None
    ) -> list[dict[str, Any]]:
        """The retrain decisions of a project (that made one version when given), newest first."""
        query = sa.select(retrain_decisions).where(retrain_decisions.c.project == project)
        if challenger_version is not None:
            query = query.where(retrain_decisions.c.challenger_version == challenger_version)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(retrain_decisions.c.id.desc()))
            return [dict(r._mapping) for r in rows]

    def monitor_check(self, check_id: int) -> dict[str, Any]:
        """One monitoring check by id."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(monitor_checks).where(monitor_checks.c.id == check_id)
            ).first()
        if row is None:
            raise NotFoundError(f"no monitoring check {check_id}; see `loopml monitor`")
        return dict(row._mapping)

    # helpers ----------------------------------------------------------------------------
    def _by_ref(
        self,
        table: sa.Table,
        key: sa.Column,
        ref: str,
        what: str,
        hint: str,
        newest: sa.Column | None = None,
    ) -> dict[str, Any]:
        # `latest` orders by `newest` (default: the table's created_at).
        order = table.c.created_at if newest is None else newest
        with self.engine.connect() as conn:
            if ref == "latest":
                rows = conn.execute(sa.select(table).order_by(order.desc()).limit(1))
            else:
                if len(ref) < 6 or not all(c in "0123456789abcdef" for c in ref.lower()):
                    raise NotFoundError(
                        f"{what} {ref!r} is not a valid reference; give at least 6 hex "
                        f"characters of an id or `latest` (see `{hint}`)"
                    )
                rows = conn.execute(sa.select(table).where(key.like(f"{ref.lower()}%")).limit(2))
            found = [dict(r._mapping) for r in rows]
        if not found:
            raise NotFoundError(f"no {what} matches {ref!r}; see `{hint}` for what exists")
        if len(found) > 1:
            raise NotFoundError(f"{what} prefix {ref!r} is ambiguous; give more characters")
        return found[0]
