"""Where a run's steps execute: in this process (materialize), or out of it (execute: parallel processes forked
from a step server, or Celery workers), recorded on the project's instance either way; and the Dagster warnings
a user of the command line cannot act on, quieted here and in the steps."""

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pipelines.run.celery_watch import INVOCATION_TAG, watch_celery_run
from pipelines.run.options import RunOptions

if TYPE_CHECKING:
    from qp_analytics.quality.suites import Validator
    from qp_analytics.warehouse.database import Warehouse


def materialize(settings: dict, selected: list[str], echo: Callable[[str], None], warehouse: "Warehouse",
                validator: "Validator | None"):
    """One in-process run of the graph's job over the selected territories, recorded on the project's instance;
    its steps use this warehouse (the run's copy, held open), its checks this validator (None: their own process)."""
    quiet_dagster_warnings()
    from pipelines.definitions import defs
    from pipelines.instance import project_instance
    from pipelines.jobs import evaluation_refresh
    from pipelines.resources import ProgressSink, QpSettings, progress_printer
    from qp_analytics.parallel import run_workers
    from qp_analytics.quality.suites import checks_ahead_in
    from qp_analytics.report.ahead import pages_ahead_in_run
    from qp_analytics.report.charts import import_chart_modules

    if validator is not None:  # while the run waits for GX's import there, it imports the report's chart modules
        validator.while_importing(import_chart_modules)

    # one pool of workers for the run's steps, which start work ahead in it for the next ones; the checks its
    # steps start ahead in the validator, and the territory pages its marts step has drawn ahead for its report,
    # are let go when the run ends (the checks before the warehouse they read is closed)
    with project_instance(quiet=True) as instance, run_workers(settings.get("workers")), \
            checks_ahead_in(validator), pages_ahead_in_run():
        return defs.resolve_job_def(evaluation_refresh.name).execute_in_process(
            instance=instance,
            resources={"settings": QpSettings(**settings, territories=selected), "warehouse": warehouse,
                       "validator": validator, "progress": ProgressSink(progress_printer(echo))},
            tags=run_tags(settings, selected),
            # the summary reports failures and checks; Dagster's own log lines would only repeat them
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            raise_on_error=False,
        )


def run_tags(settings: dict, selected: list[str]) -> dict[str, str]:
    """The tags the UI's run list shows for a command line's run."""
    return {"qp/as_of": settings["as_of"], "qp/origin": "command line", "qp/territory_count": str(len(selected))}


@contextlib.contextmanager
def execute(settings: dict, selected: list[str], options: RunOptions, echo: Callable[[str], None]
            ) -> Iterator[Any]:
    """One run of the graph's job on an out-of-process executor: steps in parallel processes (multiprocess) or
    on Celery workers, recorded on the project's instance (DAGSTER_HOME's, required for celery, where the workers
    share it). Settings travel as run config, so the workers need no environment of ours."""
    from dagster import execute_job, reconstructable

    quiet_dagster_warnings()
    from pipelines.executors import celery_job, multiprocess_job
    from pipelines.instance import project_instance

    run_config: dict = {
        "resources": {"settings": {"config": {**settings, "territories": selected}}},
        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
    }
    if options.executor == "celery":
        run_config["execution"] = {"config": {k: v for k, v in (("broker", options.celery_broker),
                                                                 ("backend", options.celery_backend)) if v}}
        job = reconstructable(celery_job)
    else:
        run_config["execution"] = {"config": {"max_concurrent": max(2, options.workers),
                                              "start_method": step_start_method()}}
        job = reconstructable(multiprocess_job)
    with _environment({"QP_PROGRESS": "stderr"}), contextlib.ExitStack() as stack:
        instance = stack.enter_context(project_instance(quiet=True))
        token = uuid.uuid4().hex  # finds this run in the instance, which other runs may share
        if options.executor == "celery":
            stack.enter_context(watch_celery_run(instance, token, options.celery_backend, echo))
        with execute_job(job, instance=instance, run_config=run_config,
                         tags={**run_tags(settings, selected), INVOCATION_TAG: token}, raise_on_error=False) as result:
            yield result


def step_start_method() -> dict:
    """How the multiprocess executor starts each step's process: forked from a server that has imported the graph
    once (pipelines.step_server), unless this process's forkserver already serves the project's own workers (the
    validator, parsing: a test session, a long-lived process). Python keeps one forkserver per process, with the
    modules and environment of its start: the steps would get neither the graph nor QP_PROGRESS. Then each step
    starts Python anew (spawn, Dagster's default)."""
    from qp_analytics.parallel import forkserver_taken

    return {"spawn": {}} if forkserver_taken() else {"forkserver": {"preload_modules": ["pipelines.step_server"]}}


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """These environment variables for the run (inherited by step processes), restored afterwards."""
    previous = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def quiet_dagster_warnings() -> None:
    """Ignore, in this process (and the steps it starts, which inherit the filters), the warnings of Dagster and
    dagster-celery that a user of the command line cannot act on."""
    import warnings

    from dagster import BetaWarning, PreviewWarning

    # backfill_policy is "beta" in Dagster 1.13; a user of the CLI cannot act on that warning.
    warnings.simplefilter("ignore", BetaWarning)
    warnings.simplefilter("ignore", PreviewWarning)
    # dagster-celery registers its one task again for each step it submits, with the same code (Celery's
    # DuplicateTaskNameWarning, matched by its text so that Celery is not imported by the other executors)
    warnings.filterwarnings("ignore", message="Task name 'execute_plan' is already registered")
