"""The Python face: `Project("loopml.yaml")` runs the same stages as the CLI."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.errors import UsageError
from loopml.spec import ProjectSpec, load_spec, spec_path_for
from loopml.store import Store

if TYPE_CHECKING:
    from loopml.data.profile import ProfileResult
    from loopml.data.splits import SplitInfo, SplitView
    from loopml.data.versions import DatasetVersion
    from loopml.monitor.retrain import RetrainResult
    from loopml.progress import Progress
    from loopml.runs.records import TrainResult

EXPORT_FORMATS = ("skops", "onnx")


class Project:
    """A loopml project: its spec, its folder and its store."""

    def __init__(self, path: str | Path = "loopml.yaml") -> None:
        self.spec_path = spec_path_for(path).resolve()
        self.spec: ProjectSpec = load_spec(self.spec_path)
        self.root = self.spec_path.parent
        self.store = Store.for_project(
            self.root, self.spec.store.metadata, self.spec.store.artifacts
        )

    def __repr__(self) -> str:
        return f"Project({str(self.spec_path)!r})"

    def profile(
        self, *, report_path: Path | None = None, progress: Progress | None = None
    ) -> ProfileResult:
        """Version the data, run the quality checks, clean it and write the EDA report."""
        from loopml.data.profile import profile_dataset

        return profile_dataset(
            self.spec, self.root, self.store, report_path=report_path, progress=progress
        )

    def prepare(self, *, progress: Progress | None = None) -> DatasetVersion:
        """The cleaned dataset version of the current data (profiled if it is new)."""
        from loopml.data.profile import prepare_dataset

        return prepare_dataset(self.spec, self.root, self.store, progress=progress)

    def split(self, *, progress: Progress | None = None) -> SplitInfo:
        """Split the cleaned dataset into train / validation / test (same inputs, same split)."""
        from loopml.data.splits import split_dataset

        version = self.prepare(progress=progress)
        if progress is not None:
            progress.phase("Splitting")
        return split_dataset(self.store, version, self.spec)

    def open_split(self, ref: str = "latest") -> SplitView:
        """Access a split's parts; the test part stays sealed until `unseal_test`."""
        from loopml.data.splits import load_split, open_split

        return open_split(self.store, load_split(self.store, ref))

    def splits(self) -> list[SplitInfo]:
        """Every split in the store, newest first."""
        from loopml.data.splits import SplitInfo

        return [SplitInfo.from_row(row) for row in self.store.meta.splits()]

    def datasets(self) -> list[DatasetVersion]:
        """Every dataset version in the store, newest first."""
        from loopml.data.versions import DatasetVersion

        return [DatasetVersion.from_row(row) for row in self.store.meta.datasets()]

    def dataset(self, ref: str = "latest") -> DatasetVersion:
        """A dataset version by id, unique prefix, or `latest`."""
        from loopml.data.versions import get_version

        return get_version(self.store, ref)

    def lineage(self, version: DatasetVersion) -> list[DatasetVersion]:
        """A dataset version and its ancestors, newest first."""
        from loopml.data.versions import lineage

        return lineage(self.store, version)

    def train(
        self,
        *,
        time_budget: float | None = None,
        families: list[str] | None = None,
        jobs: int | None = None,
        refit_all: bool | None = None,
        max_trials: int | None = None,
        progress: Progress | None = None,
        started: float | None = None,
    ) -> TrainResult:
        """Search, tune, ensemble and evaluate once on test; None takes loopml.yaml's `train:`.

        The time budget counts from `started` (a time.perf_counter() value; default: now).
        """
        from loopml.runs.train import TrainOptions, train_model

        options = TrainOptions(
            time_budget=time_budget,
            families=families,
            jobs=jobs,
            refit_all=refit_all,
            max_trials=max_trials,
            started=started,
        )
        return train_model(self.spec, self.root, self.store, options, progress=progress)

    def runs(self) -> list[dict[str, Any]]:
        """Every training run (id, status, data, scores, timings), newest first."""
        return self.store.meta.runs()

    def run(self, ref: str = "latest") -> dict[str, Any]:
        """One run by id, unique prefix, or `latest`, with its trials."""
        row = self.store.meta.run(ref)
        return row | {"trials": self.store.meta.trials(row["id"])}

    def reproduce(
        self, ref: str, *, progress: Progress | None = None
    ) -> tuple[TrainResult, dict[str, Any]]:
        """Replay run `ref` on the same data and seed; returns the new result and the differences."""
        from loopml.runs.reproduce import reproduce_run

        return reproduce_run(self.root, self.store, ref, progress=progress)

    def load_model(self, ref: str = "latest") -> Any:
        """The model `ref` names (version number, alias, `latest`, or run id), checked by sha256."""
        from loopml.runs.scoring import load_reference

        return load_reference(self.store, self.spec.name, str(ref), self.spec)

    def score(
        self,
        ref: str,
        source: str | Path,
        output: str | Path,
        *,
        table: str | None = None,
        query: str | None = None,
        id_columns: list[str] | None = None,
        unknown: str = "allow",
        log: bool = True,
    ) -> Any:
        """Score a file (CSV, Parquet, JSON Lines) or a SQL table/query into `output`, in chunks.

        Rows failing the model's signature go to `<output>.rejected.<ext>` with their reasons.
        `source` is a path, or a SQLAlchemy URL with `table` or `query`. With `log`, the
        scored rows also go to the prediction log that `monitor` reads.
        """
        from loopml.data.sources import open_source, redact_url
        from loopml.monitor.log import prediction_folder
        from loopml.runs.scoring import resolve_model
        from loopml.serve.batch import check_output, score_source
        from loopml.spec import DataSource

        check_output(Path(output))
        model, signature, version = resolve_model(self.store, self.spec.name, str(ref), self.spec)
        text = str(source)
        if "://" in text:
            if (table is None) == (query is None):
                raise UsageError(
                    f"{redact_url(text)} is a SQL URL: give exactly one of --table or --query"
                )
            spec = DataSource(url=text, table=table, query=query)
        else:
            if table is not None or query is not None:
                raise UsageError(
                    f"--table and --query go with a SQL URL as the input, not a file like {text}"
                )
            spec = DataSource(path=text)
        return score_source(
            model,
            signature,
            open_source(spec, Path.cwd(), origin=None),
            Path(output),
            version=version,
            id_columns=id_columns,
            unknown=unknown,
            log_folder=prediction_folder(self) if log else None,
        )

    def export(
        self,
        ref: str,
        folder: str | Path,
        *,
        format: str = "skops",
        tolerance: float = 1e-4,
    ) -> Path:
        """Write a self-contained folder (model, signature, scorer, server, Dockerfile) for `ref`.

        `format`: "skops" (the model file and the loopml code it needs) or "onnx" (one ONNX
        graph for onnxruntime, refused when it scores differently from loopml by more than
        `tolerance`; see docs/guide/registry.md).
        """
        from loopml.registry.versions import resolve
        from loopml.runs.scoring import trusted_types

        if format not in EXPORT_FORMATS:
            raise UsageError(
                f"unknown export format {format!r}; use one of {', '.join(EXPORT_FORMATS)}"
            )
        version = resolve(self.store, self.spec.name, str(ref))
        run = self.store.meta.run(version["run_id"])
        trusted = trusted_types(self.spec, version["task"])
        if format == "onnx":
            from loopml.serve.onnx_export import export_onnx_bundle

            return export_onnx_bundle(
                self.store, version, run, Path(folder), trusted=trusted, tolerance=tolerance
            )
        from loopml.serve.export import export_bundle

        return export_bundle(self.store, version, run, Path(folder), trusted=trusted)

    def serve(
        self,
        ref: str = "production",
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        workers: int = 1,
        token: str | None = None,
        insecure: bool = False,
        max_rows: int = 10_000,
        max_body_bytes: int = 10 * 2**20,
        timeout_s: float = 10.0,
        max_concurrency: int = 64,
        poll_s: float = 2.0,
        unknown: str = "allow",
        extra: str = "reject",
        access_log: bool = False,
        log: bool = True,
        challenger: str | None = None,
        split: float | None = None,
        shadow: str | None = None,
        announce: Callable[[dict[str, Any], dict[str, Any] | None], None] | None = None,
    ) -> None:
        """Serve model `ref` over REST until SIGTERM (following it when it is an alias).

        An experiment runs beside it with `challenger` (a canary answering `split` percent
        of the requests, default 10) or `shadow` (scores every request after its answer;
        logged, never returned); see docs/guide/experiments.md. `announce` is called with
        the model version row and the challenger's or shadow's (or None) once the settings
        are checked, just before the server starts.
        """
        from loopml.registry.versions import resolve
        from loopml.runs.scoring import model_artifact
        from loopml.serve.app import ServeSettings
        from loopml.serve.routing import checked_experiment, resolve_rival
        from loopml.serve.server import check_address, run_server, serving_token

        experiment = checked_experiment(
            None if challenger is None else str(challenger),
            split,
            None if shadow is None else str(shadow),
        )
        if experiment.mode == "shadow" and not log:
            raise UsageError(
                "--shadow predictions are only kept in the prediction log; drop --no-log"
            )
        settings = ServeSettings(
            spec_path=str(self.spec_path),
            ref=str(ref),
            token=serving_token(host, token, insecure=insecure),
            max_body_bytes=max_body_bytes,
            max_rows=max_rows,
            timeout_s=timeout_s,
            max_concurrency=max_concurrency,
            poll_s=poll_s,
            unknown=unknown,
            extra=extra,
            log=log,
            threads=max(1, (os.cpu_count() or 1) // workers),  # each worker its share of cores
            challenger=experiment.challenger,
            split=experiment.split,
            shadow=experiment.shadow,
        )
        # An unknown reference or a tampered model file fails here, once, before any worker.
        version = resolve(self.store, self.spec.name, str(ref))
        model_artifact(self.store, self.store.meta.run(version["run_id"]))
        rival = resolve_rival(self.store, self.spec.name, version, experiment)
        self.store.close()
        check_address(host, port)
        if announce is not None:
            announce(version, rival)
        run_server(settings, host=host, port=port, workers=workers, access_log=access_log)

    def feedback(self, source: str | Path) -> Any:
        """Store ground-truth labels (request_id, label[, record]) from a CSV, Parquet or JSON
        Lines file for the predictions they name; unknown ids are listed, not stored."""
        from loopml.monitor.feedback import feedback_folder, record_feedback
        from loopml.monitor.log import prediction_folder
        from loopml.runs.scoring import read_input

        path = Path(source)
        rows = read_input(path)
        return record_feedback(
            prediction_folder(self), feedback_folder(self), rows, source=str(path)
        )

    def monitor(
        self,
        ref: str | None = None,
        *,
        since: str | None = None,
        until: str | None = None,
        report_path: Path | None = None,
        report: bool = True,
        retrain: bool = False,
        progress: Progress | None = None,
    ) -> Any:
        """Drift, performance, service health and alerts of model `ref`'s logged predictions
        in a window; the check is recorded in the store, its alerts posted to the spec's
        webhook, and (with `report`) an HTML report written.

        `ref` defaults to `production` when that alias exists, else `latest`; `since` to the
        spec's `monitor.since`, `until` to now (the window is refused when it is empty). With
        `retrain`, an alert of a rule in `retrain.on` runs `retrain` with the check as its
        trigger: `result.retrain` holds the decision, `{"decision": "skipped", "reason": ...}`
        when no such alert fired, or `{"error": ...}` when it could not run (the check is kept
        either way).
        """
        from loopml.monitor.alerts import post_alerts, unset_header_notes, webhook_headers
        from loopml.monitor.check import check_window, parse_window
        from loopml.monitor.feedback import feedback_folder, read_feedback
        from loopml.monitor.log import event_folder, prediction_folder
        from loopml.registry.versions import resolve

        if ref is None:
            ref = (
                "production"
                if "production" in self.store.meta.aliases(self.spec.name)
                else "latest"
            )
        version = resolve(self.store, self.spec.name, str(ref))
        settings = self.spec.monitor
        start, end = parse_window(since, until, settings.since)
        result = check_window(
            self.store,
            self.spec.name,
            prediction_folder(self),
            version,
            since=start,
            until=end,
            settings=settings,
            goals=self.spec.goals,
            feedback=read_feedback(feedback_folder(self)),
            events_folder=event_folder(self),
            periods=settings.periods if report else 0,
        )
        if settings.webhook is not None:
            result.notes += unset_header_notes(webhook_headers(settings.webhook)[1])
        if result.alerts and settings.webhook is not None:
            payload = {
                "project": self.spec.name,
                "model_version": result.version,
                "since": start.isoformat(),
                "until": end.isoformat(),
                "rows": result.rows,
                "alerts": result.alerts,
            }
            result.webhook = post_alerts(settings.webhook, payload)
        if report:
            from loopml.report.monitor_report import write_monitor_report

            result.report_path = write_monitor_report(self.spec, self.root, result, report_path)
        data = result.to_dict()
        result.check_id = self.store.meta.add_monitor_check(
            {
                "project": self.spec.name,
                "version": result.version,
                "since": data["since"],
                "until": data["until"],
                "rows": result.rows,
                "dataset_drift": bool(result.dataset_drift["drifted"]),
                "alerts": data["alerts"],
                "result": data,
            }
        )
        if retrain:
            result.retrain = self._triggered_retrain(ref, result, progress)
        return result

    def _triggered_retrain(
        self, ref: str, result: Any, progress: Progress | None
    ) -> dict[str, Any]:
        """What `monitor --retrain` did after the check `result`: the decision, why it did not
        retrain (`decision: skipped`), or `{"error": ...}` when the retrain could not run."""
        from loopml.errors import LoopmlError
        from loopml.monitor.retrain import retrain_skipped

        skipped = retrain_skipped(result.alerts, self.spec.retrain.on)
        if skipped is not None:
            return skipped
        try:
            decision = self.retrain(ref, check_id=result.check_id, progress=progress)
        except LoopmlError as exc:
            return {"error": exc.message}
        return decision.to_dict()

    def retrain(
        self,
        ref: str | None = None,
        *,
        data: str | Path | None = None,
        search: str | None = None,
        time_budget: float | None = None,
        dry_run: bool = False,
        check_id: int | None = None,
        progress: Progress | None = None,
        started: float | None = None,
    ) -> RetrainResult:
        """Train a challenger to version `ref` (default: production) on new data and promote
        it only if it wins on a fresh holdout; None takes loopml.yaml's `retrain:`.

        `data` is a file to use instead of `retrain.data`; `search` is `reuse` (the
        champion's model refitted) or `fresh`; `dry_run` reads the data and draws the
        holdout but trains and records nothing; `check_id` names the monitoring check that
        triggered it. The decision is recorded, promoted or not.
        """
        from loopml.monitor.feedback import feedback_folder
        from loopml.monitor.log import prediction_folder
        from loopml.monitor.retrain import RetrainOptions, retrain_model

        options = RetrainOptions(
            ref=None if ref is None else str(ref),
            data=None if data is None else str(data),
            search=search,
            time_budget=time_budget,
            dry_run=dry_run,
            check_id=check_id,
            started=started,
        )
        return retrain_model(
            self.spec,
            self.root,
            self.store,
            options,
            log_folder=prediction_folder(self),
            feedback_folder=feedback_folder(self),
            progress=progress,
        )

    def retrains(self, version: int | None = None) -> list[RetrainResult]:
        """Every recorded retrain decision (those that made `version` when given), newest first."""
        from loopml.monitor.retrain import RetrainResult

        rows = self.store.meta.retrain_decisions(self.spec.name, version)
        return [RetrainResult.from_row(row) for row in rows]

    def experiments(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        metric: str | None = None,
        variant: str | None = None,
        alpha: float = 0.05,
        power: float = 0.8,
        min_effect: float | None = None,
    ) -> Any:
        """The online experiment of a window: champion vs challenger (canary) or shadow.

        Per variant the requests, labelled predictions and `metric` (default: the spec's)
        with a bootstrap interval; per comparison the difference, a significance test at
        `alpha` and the labelled rows needed to detect `min_effect` (default: the observed
        difference) with `power`. `since` defaults to the spec's `monitor.since`; `variant`
        (challenger or shadow) keeps one comparison. Returns an ExperimentReport (`to_dict()`).
        """
        from loopml.monitor.check import parse_window
        from loopml.monitor.experiments import experiment_report
        from loopml.monitor.feedback import feedback_folder, read_feedback
        from loopml.monitor.log import prediction_folder

        start, end = parse_window(since, until, self.spec.monitor.since)
        return experiment_report(
            self.store,
            self.spec,
            prediction_folder(self),
            read_feedback(feedback_folder(self)),
            since=start,
            until=end,
            metric=metric,
            variant=variant,
            alpha=alpha,
            power=power,
            min_effect=min_effect,
        )

    def models(self) -> list[dict[str, Any]]:
        """The project's model versions, newest first, with their aliases."""
        named: dict[int, list[str]] = {}
        for alias, version in self.store.meta.aliases(self.spec.name).items():
            named.setdefault(version, []).append(alias)
        rows = self.store.meta.model_versions(self.spec.name)
        return [row | {"aliases": sorted(named.get(row["version"], []))} for row in rows]

    def model(self, ref: str = "latest") -> dict[str, Any]:
        """One model version by number, alias or `latest`; `retrain` is the decision of the
        retrain that made it (trigger, alerts, data, scores), None for a trained one."""
        from loopml.registry.versions import resolve

        row = resolve(self.store, self.spec.name, str(ref))
        made = self.retrains(row["version"])
        return row | {"retrain": made[0].to_dict() if made else None}

    def promote(
        self, ref: str, alias: str, *, force: bool = False, reason: str | None = None
    ) -> dict[str, Any]:
        """Point `alias` at version `ref` (gated for `production`); returns the logged event."""
        from loopml.registry.versions import promote

        return promote(
            self.store,
            self.spec.name,
            str(ref),
            alias,
            force=force,
            reason=reason,
            goals=self.spec.goals,
        )

    def demote(self, alias: str, *, reason: str | None = None) -> dict[str, Any]:
        """Remove `alias`; returns the logged event."""
        from loopml.registry.versions import demote

        return demote(self.store, self.spec.name, alias, reason=reason)

    def alias_history(self, alias: str | None = None) -> list[dict[str, Any]]:
        """Every alias change (of one alias when given), newest first."""
        return self.store.meta.alias_events(self.spec.name, alias)

    def predict(self, frame: Any, ref: str = "latest") -> Any:
        """`prediction` (and `proba_<class>` per class) for each row of `frame`."""
        from loopml.runs.scoring import score_frame

        return score_frame(self.load_model(ref), frame)

    def explain(
        self,
        ref: str = "production",
        *,
        data: str | Path | Any = None,
        row: dict[str, Any] | list[dict[str, Any]] | str | None = None,
        top: int = 10,
        max_rows: int | None = None,
        time_budget: float | None = None,
        progress: Any = None,
    ) -> Any:
        """SHAP explanation of model `ref` per original input column.

        `data` (a file path or a DataFrame): global, what drives the model over those rows
        (at most `max_rows` of them, a seeded sample beyond: by default 10,000, or 100
        shared among the members that need the sampled, model-agnostic explainer; and at
        most `time_budget` seconds, by default 60 unless `max_rows` is given). `row` (a
        record, a list of them, or their JSON text): local, each record's top contributions.
        Neither: the global explanation recorded at training (test rows). `progress`: a
        `loopml.progress.Progress` told of the rows explained.
        """
        from loopml.explain.stage import explain_model

        return explain_model(
            self.store,
            self.spec,
            str(ref),
            data=data,
            records=row,
            top=top,
            max_rows=max_rows,
            time_budget=time_budget,
            progress=progress,
        )

    def fairness(
        self,
        ref: str = "production",
        *,
        sensitive: list[str] | None = None,
        data: str | Path | Any = None,
        mitigate: str | None = None,
    ) -> dict[str, Any]:
        """Model `ref`'s metrics per group of the sensitive columns, the gaps and the spec's
        threshold checks, on its test part (a logged access) or on labelled `data`.

        `mitigate` ("thresholds" or "reweight") adds the accuracy / fairness trade-off table
        of that mitigation, measured on held-out rows (docs/guide/fairness.md).
        """
        from loopml.explain.fairness_stage import check_fairness

        if mitigate is not None:
            from loopml.explain.mitigate import mitigation_table

            return mitigation_table(
                self.store, self.spec, str(ref), mitigate, sensitive=sensitive, data=data
            )
        return check_fairness(self.store, self.spec, str(ref), sensitive=sensitive, data=data)

    def card(self, ref: str = "production") -> dict[str, Any]:
        """Model `ref`'s model card as plain data, gathered from the store."""
        from loopml.registry.card import model_card_data

        return model_card_data(self.store, self.spec.name, str(ref))

    def close(self) -> None:
        """Release the store's connections."""
        self.store.close()
