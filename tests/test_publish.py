"""Publication: a complete new set or the previous one, never a mix; the dictionary from the same definitions."""

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pytest

from qp_analytics import publish
from qp_analytics.publish import current_release, dictionary_frame, publish_release
from qp_analytics.schema import MARTS


def frames(as_of: dt.date) -> dict[str, pl.DataFrame]:
    return {name: pl.DataFrame({"as_of": [as_of]}) for name in MARTS}


def test_release_layout_and_stable_names(tmp_path):
    release = publish_release(tmp_path, frames(dt.date(2023, 1, 1)), dt.date(2023, 1, 1))
    assert current_release(tmp_path) == release.resolve()
    names = {p.name for p in release.iterdir()}
    assert names == {f"{n.split('.')[1]}.parquet" for n in MARTS} | {"dictionary.parquet", "dictionary.md",
                                                                      "release.json"}
    for name in names - {"release.json"}:
        assert (tmp_path / name).is_symlink()
        assert (tmp_path / name).resolve() == (release / name).resolve()
    assert pl.read_parquet(tmp_path / "mart_timeliness.parquet")["as_of"].to_list() == [dt.date(2023, 1, 1)]


def test_a_crash_mid_publication_leaves_the_previous_set(tmp_path, monkeypatch):
    first = publish_release(tmp_path, frames(dt.date(2023, 1, 1)), dt.date(2023, 1, 1))
    calls = {"n": 0}
    real_write = publish._write_file

    def dying_write(path, data):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full (simulated)")
        return real_write(path, data)

    monkeypatch.setattr(publish, "_write_file", dying_write)
    with pytest.raises(OSError, match="simulated"):
        publish_release(tmp_path, frames(dt.date(2024, 1, 1)), dt.date(2024, 1, 1))
    assert current_release(tmp_path) == first.resolve()
    for name in MARTS:
        short = name.split(".")[1]
        assert pl.read_parquet(tmp_path / f"{short}.parquet")["as_of"].to_list() == [dt.date(2023, 1, 1)]
    monkeypatch.setattr(publish, "_write_file", real_write)
    second = publish_release(tmp_path, frames(dt.date(2024, 1, 1)), dt.date(2024, 1, 1))
    assert current_release(tmp_path) == second.resolve()
    assert not list((tmp_path / "releases").glob(".incomplete-*"))  # the leftover is cleaned


def test_old_releases_are_pruned_but_not_the_current(tmp_path):
    for day in range(1, 9):
        publish_release(tmp_path, frames(dt.date(2023, 1, day)), dt.date(2023, 1, day))
    releases = [p for p in (tmp_path / "releases").iterdir() if not p.name.startswith(".")]
    assert len(releases) == publish.KEEP_RELEASES
    assert current_release(tmp_path) in [r.resolve() for r in releases]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".current-")]


def test_dictionary_is_drawn_from_the_schema():
    d = dictionary_frame()
    assert d.height == sum(len(t.columns) for t in MARTS.values())
    row = d.filter((pl.col("table") == "mart_timeliness") & (pl.col("column") == "roadmap_status")).to_dicts()[0]
    assert row["type"] == "VARCHAR" and row["meaning"].startswith("on_time (delay ≤ 0)")
    md = publish.dictionary_markdown()
    assert "## mart_partner_mobilisation" in md and "| attendance_rate | DOUBLE |" in md


def test_the_same_marts_keep_the_current_release(tmp_path):
    day = dt.date(2023, 1, 1)
    first = publish_release(tmp_path, frames(day), day)
    assert publish_release(tmp_path, frames(day), day, reuse=True) == first.resolve()
    assert len([p for p in (tmp_path / "releases").iterdir()]) == 1  # nothing written
    assert publish_release(tmp_path, frames(day), day) != first  # without reuse: a new release all the same

    current = current_release(tmp_path)
    changed = {**frames(day), "marts.mart_timeliness": pl.DataFrame({"as_of": [day, day]})}  # one row more
    assert publish_release(tmp_path, changed, day, reuse=True) != current
    current = current_release(tmp_path)
    assert publish_release(tmp_path, changed, dt.date(2023, 1, 2), reuse=True) != current  # another as_of

    # a file of the current release that no longer holds what was published: a new release
    current = current_release(tmp_path)
    later = frames(dt.date(2023, 1, 2))
    assert publish_release(tmp_path, later, dt.date(2023, 1, 2), reuse=True) != current
    current = current_release(tmp_path)
    (current / "mart_timeliness.parquet").write_bytes(b"damaged")
    assert publish_release(tmp_path, later, dt.date(2023, 1, 2), reuse=True) != current
    current = current_release(tmp_path)
    assert publish_release(tmp_path, later, dt.date(2023, 1, 2), reuse=True) == current  # as published: kept
    (current / "dictionary.md").write_text("an older dictionary")  # e.g. written by another version
    assert publish_release(tmp_path, later, dt.date(2023, 1, 2), reuse=True) != current


def test_a_reused_release_is_named_as_a_new_one_would_be(tmp_path, monkeypatch):
    """A relative marts folder gives a relative release path, whether the release is new or reused."""
    monkeypatch.chdir(tmp_path)
    day = dt.date(2023, 1, 1)
    first = publish_release("marts", frames(day), day)
    assert not first.is_absolute() and first.parent == Path("marts", "releases")
    assert publish_release("marts", frames(day), day, reuse=True) == first


def test_a_reused_release_is_activated_again(tmp_path):
    """Reusing the current release still puts back its stable names, even after a run killed mid-activation."""
    day = dt.date(2023, 1, 1)
    first = publish_release(tmp_path, frames(day), day)
    (tmp_path / "mart_timeliness.parquet").unlink()  # a stable name removed by hand
    (tmp_path / f".current-{first.name}").symlink_to(f"releases/{first.name}")  # left by a killed activation
    assert publish_release(tmp_path, frames(day), day, reuse=True) == first.resolve()
    assert (tmp_path / "mart_timeliness.parquet").resolve() == (first / "mart_timeliness.parquet").resolve()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".current-")]


def published_releases(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "releases").iterdir() if not p.name.startswith("."))


def test_a_release_never_made_current_is_pruned_as_an_orphan(tmp_path):
    """A run killed after writing its release (inactive, as the CLI writes it) but before making it current: the
    next pruning removes that orphan, and the last five kept are five releases that were published."""
    real = [publish_release(tmp_path, frames(dt.date(2023, 1, day)), dt.date(2023, 1, day)).name for day in (1, 2, 3)]
    orphan = publish_release(tmp_path, frames(dt.date(2023, 2, 1)), dt.date(2023, 2, 1), activate=False)
    assert (orphan / ".pending").exists() and current_release(tmp_path).name == real[-1]
    real += [publish_release(tmp_path, frames(dt.date(2023, 1, day)), dt.date(2023, 1, day)).name for day in (4, 5, 6)]
    assert published_releases(tmp_path) == real[-publish.KEEP_RELEASES:]
    assert not [p for p in (tmp_path / "releases").rglob(".pending")]
    assert current_release(tmp_path).name == real[-1]


def test_a_release_being_published_by_another_run_is_not_pruned(tmp_path):
    from qp_analytics.releases import publishing

    first = publish_release(tmp_path, frames(dt.date(2023, 1, 1)), dt.date(2023, 1, 1))
    with publishing(tmp_path):  # another run, between writing its release and making it current
        theirs = publish_release(tmp_path, frames(dt.date(2023, 1, 2)), dt.date(2023, 1, 2), activate=False)
        ours = publish_release(tmp_path, frames(dt.date(2023, 1, 3)), dt.date(2023, 1, 3))
        assert published_releases(tmp_path) == sorted([first.name, theirs.name, ours.name])
        publish.activate_release(tmp_path, theirs)
    assert current_release(tmp_path) == theirs.resolve() and not (theirs / ".pending").exists()
    assert published_releases(tmp_path) == sorted([first.name, theirs.name, ours.name])


def test_a_release_made_current_before_its_marker_went_counts_as_published(tmp_path):
    first = publish_release(tmp_path, frames(dt.date(2023, 1, 1)), dt.date(2023, 1, 1))
    (first / ".pending").write_text("killed between the swap and the marker's removal")
    publish.prune_releases(tmp_path)
    assert published_releases(tmp_path) == [first.name] and not (first / ".pending").exists()
