"""Shared fixtures: the committed raw data, and small raw folders written by the generator."""

import random
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RAW = REPO / "data" / "raw"
SEED_CONVENTION = RAW / "conventions" / "aix-marseille-provence.txt"


# Module fixtures that run the whole pipeline (tests/test_query.py's published marts, the hand-made roadmap's
# runs of tests/test_marts_handmade.py): their tests are in the full tier, as the modules marked slow are.
RUNS_THE_PIPELINE = {"published", "runs"}


def pytest_collection_modifyitems(items):
    for item in items:
        if RUNS_THE_PIPELINE & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def dagster_home(tmp_path_factory):
    """Runs record on a Dagster instance of the test session's own (per xdist worker), not the project's
    `.dagster_home`: DAGSTER_HOME set for the session, as a deployment sets it."""
    import os

    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    before = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    yield home
    if before is None:
        os.environ.pop("DAGSTER_HOME", None)
    else:
        os.environ["DAGSTER_HOME"] = before


@pytest.fixture(scope="session")
def small_raw(tmp_path_factory):
    """Five fictitious territories written by the generator, with what it meant to write."""
    from qp_analytics.generators.conventions import synthetic_territories
    from qp_analytics.generators.raw_folder import write_raw_folder

    out = tmp_path_factory.mktemp("raw_small")
    result = write_raw_folder(out, synthetic_territories(5, random.Random(11)), seed=11)
    return out, {s.territory.territory_id: s for s in result.specs}


@pytest.fixture
def raw_copy(tmp_path):
    """A private copy of the committed data/raw, free to break."""
    dest = tmp_path / "raw"
    shutil.copytree(RAW, dest)
    for p in dest.rglob("*"):
        p.chmod(0o644 if p.is_file() else 0o755)
    return dest
