"""Celery settings of the workers that run the pipeline's steps (`celery -A dagster_celery.app worker`).

dagster_celery.app imports a module of this name when it is importable: start the worker with this folder on
PYTHONPATH. Broker and result backend come from the environment, the same values the launcher passes
(`qp-analytics materialize --executor celery` reads QP_CELERY_BROKER and QP_CELERY_BACKEND). With the project's
PostgreSQL as both, no other server is needed:

    QP_CELERY_BROKER=sqla+postgresql+psycopg2://USER@HOST:PORT/celery
    QP_CELERY_BACKEND=db+postgresql+psycopg2://USER@HOST:PORT/celery
"""

import os
import threading

from celery.signals import worker_ready, worker_shutting_down

broker_url = os.environ["QP_CELERY_BROKER"]
result_backend = os.environ["QP_CELERY_BACKEND"]
worker_prefetch_multiplier = 1  # a step is long: take one at a time
broker_connection_retry_on_startup = True
_stop_saying_alive = threading.Event()


@worker_ready.connect
def _say_alive(sender, **_kwargs) -> None:
    """Every 10 s, in the result backend, that this worker is there (pipelines.celery_presence): with this
    broker `celery inspect ping` cannot reach workers, and a run refuses to start when none is there."""
    from pipelines.celery_presence import keep_saying_alive

    keep_saying_alive(sender.app, sender.hostname, _stop_saying_alive)


@worker_shutting_down.connect
def _quiet(**_kwargs) -> None:
    """A worker shutting down takes no new step: it stops saying it is there."""
    _stop_saying_alive.set()
