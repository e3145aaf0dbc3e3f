"""Looking at the raw folder: which files lead out of it (RawFolderLinks, one resolve per directory, against
resolving every file's whole path, on a folder with every kind of link), and which files need reading again to
be hashed (their state against the one known)."""

import hashlib
import os
import time
from pathlib import Path

import pytest

from qp_analytics.reading.raw_index import raw_fingerprints
from qp_analytics.reading.territories import RawFolderLinks


def _tree(tmp_path: Path) -> tuple[Path, list[Path]]:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "sub").mkdir(parents=True)
    (elsewhere / "a.txt").write_text("outside")
    (elsewhere / "sub" / "b.txt").write_text("outside too")
    raw = tmp_path / "raw"
    conventions = raw / "conventions"
    (conventions / "kept").mkdir(parents=True)
    (conventions / "plain.txt").write_text("inside")
    (conventions / "kept" / "deep.txt").write_text("inside, deeper")
    (conventions / "to-outside.txt").symlink_to(elsewhere / "a.txt")  # a file linked out
    (conventions / "to-inside.txt").symlink_to(conventions / "plain.txt")  # a file linked within
    (conventions / "out-dir").symlink_to(elsewhere / "sub")  # a folder linked out
    (conventions / "in-dir").symlink_to(conventions / "kept")  # a folder linked within
    (conventions / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    # the raw folder itself reached through a link: its files are still inside
    (tmp_path / "raw-link").symlink_to(raw)
    files = [conventions / n for n in ("plain.txt", "to-outside.txt", "to-inside.txt", "dangling.txt")]
    files += [conventions / "kept" / "deep.txt", conventions / "out-dir" / "b.txt", conventions / "in-dir" / "deep.txt"]
    return raw, files


def test_links_out_of_the_raw_folder_are_found_as_resolving_each_file_finds_them(tmp_path):
    raw, files = _tree(tmp_path)
    for root in (raw, tmp_path / "raw-link"):
        links = RawFolderLinks(root)
        for file in files:
            file = root / file.relative_to(raw)
            expected_outside = not file.resolve().is_relative_to(root.resolve())  # by hand: the whole path resolved
            problem = links.outside(file)
            assert (problem is not None) == expected_outside, file
            if problem:
                assert str(file) in problem and "outside the raw folder" in problem
    outside = {f.name for f in files if RawFolderLinks(raw).outside(f)}
    assert outside == {"to-outside.txt", "dangling.txt", "b.txt"}


def test_a_file_linked_out_is_fingerprinted_by_its_target_not_its_bytes(tmp_path):
    raw, _ = _tree(tmp_path)
    prints = raw_fingerprints(raw)
    assert prints["conventions/to-outside.txt"] == f"outside:{(tmp_path / 'elsewhere' / 'a.txt').resolve()}"
    # a folder linked out is not walked, or its files stand for their targets: never their bytes
    assert all(v.startswith("outside:") for k, v in prints.items() if k.startswith("conventions/out-dir/"))
    assert not prints["conventions/plain.txt"].startswith("outside:")
    assert prints["conventions/to-inside.txt"] == prints["conventions/plain.txt"]  # the same bytes


def test_a_file_in_the_state_known_keeps_its_hash_any_write_has_it_read_again(tmp_path, monkeypatch):
    from qp_analytics.reading import raw_index

    raw = tmp_path / "raw"
    (raw / "conventions").mkdir(parents=True)
    a, b = raw / "conventions" / "a.txt", raw / "conventions" / "b.txt"
    a.write_text("first")
    b.write_text("second")
    seen: dict = {}
    prints = raw_fingerprints(raw, seen=seen)
    assert seen == {}  # both written just now: their state may not tell a second write yet (racy)
    monkeypatch.setattr(raw_index, "RACY_NS", 0)
    prints = raw_fingerprints(raw, seen=seen)
    assert prints["conventions/a.txt"] == hashlib.sha256(b"first").hexdigest()  # by hand
    assert sorted(seen) == ["conventions/a.txt", "conventions/b.txt"]
    assert seen["conventions/a.txt"][-1] == prints["conventions/a.txt"]
    # a file in the known state is not read: the hash known is what it gets (shown with a made-up one)
    known = {**seen, "conventions/b.txt": [*seen["conventions/b.txt"][:4], "made-up"]}
    assert raw_fingerprints(raw, known=known)["conventions/b.txt"] == "made-up"
    # rewritten with the same size, its modification time put back: its change time tells, and it is read
    status = a.stat()
    time.sleep(0.05)  # past a tick of the coarsest file-system clock (4–10 ms)
    a.write_text("FIRST")
    os.utime(a, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert a.stat().st_size == status.st_size and a.stat().st_mtime_ns == status.st_mtime_ns
    assert raw_fingerprints(raw, known=known)["conventions/a.txt"] == hashlib.sha256(b"FIRST").hexdigest()


def test_a_roadmap_found_from_the_folder_listed_once_is_the_one_found_file_by_file(tmp_path):
    """roadmap_source with the roadmaps folder listed once (ListedFolder) and its links resolved once gives what
    it gives asking the file system for each name: the workbook, the CSV exports, both (refused), a link out of
    the raw folder (refused), a dangling link or a folder named like a workbook (no roadmap)."""
    from qp_analytics.normalise.rows import roadmap_source
    from qp_analytics.reading.territories import ListedFolder

    raw, roadmaps = _raw_folder(tmp_path, "roadmaps", ["wb.xlsx", "csv.fiche.csv", "csv.actions.csv", "both.xlsx",
                                                       "both.fiche.csv"], "out.xlsx", "dangling.xlsx")
    (roadmaps / "folder.xlsx").mkdir()

    found = _finder(roadmap_source, raw, roadmaps, ("wb", "csv", "both", "out", "dangling", "folder", "none"))
    assert found("wb") == (roadmaps / "wb.xlsx", "xlsx")
    assert found("csv")[1] == "csv"
    assert found("both")[0] == "MissingFile" and found("out")[0] == "OutsideRawFolder"
    assert found("dangling") == found("folder") == found("none") == (None, None)
    assert ListedFolder(tmp_path / "no-such-folder").files == set()


def test_a_convention_found_from_the_folder_listed_once_is_the_one_found_file_by_file(tmp_path):
    """convention_path with the conventions folder listed once gives what it gives file by file: one file, none,
    two (refused), a link out of the raw folder (refused), a dangling link (none)."""
    from qp_analytics.reading.territories import convention_path

    raw, conventions = _raw_folder(tmp_path, "conventions", ["one.pdf", "two.pdf", "two.txt"], "out.txt",
                                   "dangling.txt")

    found = _finder(convention_path, raw, conventions, ("one", "two", "out", "dangling", "none"))
    assert found("one") == conventions / "one.pdf"
    assert found("two")[0] == "MissingFile" and found("out")[0] == "OutsideRawFolder"
    assert found("dangling")[0] == found("none")[0] == "MissingFile"


def _raw_folder(tmp_path: Path, name: str, files: list[str], out: str, dangling: str) -> tuple[Path, Path]:
    """A raw folder with one folder `name` holding these files, a link `out` to a file outside the raw folder
    and a link `dangling` to nothing: (the raw folder, that folder)."""
    raw = tmp_path / "raw"
    folder = raw / name
    folder.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for file in files:
        (folder / file).write_bytes(b"x")
    (elsewhere / out).write_bytes(b"x")
    (folder / out).symlink_to(elsewhere / out)
    (folder / dangling).symlink_to(tmp_path / f"nowhere{Path(dangling).suffix}")
    return raw, folder


def _finder(find, raw: Path, folder: Path, territories):
    """What `find` (convention_path, roadmap_source) answers for a territory, an error as its class and message;
    checked first to be the same with the folder listed once (ListedFolder) and the links resolved once."""
    from qp_analytics.reading.territories import ListedFolder, MissingFile

    def found(territory, *listing):
        try:
            return find(raw, territory, *listing)
        except MissingFile as exc:
            return type(exc).__name__, str(exc)

    listing = (ListedFolder(folder), RawFolderLinks(raw))
    for territory in territories:
        assert found(territory, *listing) == found(territory), territory
    return found


def test_the_fingerprinted_files_are_those_a_walk_of_each_path_finds(tmp_path):
    """raw_fingerprints lists each folder once: the same files, in the same order, as pathlib's walk of every
    watched name (hidden files left out, links to folders not entered, a folder reached through a link of the
    raw folder's own parent), with each file's bytes or its target when it leads out."""
    raw, _ = _tree(tmp_path)
    (raw / "territories.csv").write_text("territory_id\n")
    (raw / "roadmaps" / "a-b").mkdir(parents=True)
    (raw / "roadmaps" / "a-b" / "x.csv").write_text("dash")  # "a-b/" sorts before "a/" as text, after it as parts
    (raw / "roadmaps" / "a").mkdir()
    (raw / "roadmaps" / "a" / "x.csv").write_text("plain")
    (raw / "roadmaps" / ".hidden.csv").write_text("left out")
    (raw / "roadmaps" / ".cache").mkdir()
    (raw / "roadmaps" / ".cache" / "kept.csv").write_text("in a hidden folder, not hidden itself")
    (raw / "avenants").symlink_to(tmp_path / "elsewhere")  # a watched folder that is a link out
    for root in (raw, tmp_path / "raw-link"):
        expected = {}
        for name in ("territories.csv", "manifest.csv", "conventions", "roadmaps", "avenants"):
            path = root / name
            walked = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for file in walked:
                if not file.name.startswith("."):
                    inside = file.resolve().is_relative_to(root.resolve())
                    expected[file.relative_to(root).as_posix()] = (
                        hashlib.sha256(file.read_bytes()).hexdigest() if inside else f"outside:{file.resolve()}")
        prints = raw_fingerprints(root)
        assert list(prints.items()) == list(expected.items())
    assert list(prints).index("roadmaps/a/x.csv") < list(prints).index("roadmaps/a-b/x.csv")
    assert "roadmaps/.cache/kept.csv" in prints and "roadmaps/.hidden.csv" not in prints


def test_what_is_read_from_a_file_is_remembered_while_the_file_is_unchanged(tmp_path, monkeypatch):
    """territories.csv and manifest.csv are read once per process while unchanged: a write (even of the same
    size) reads them again, a file just written is not remembered, a caller changing what it got changes
    nothing for the next, a file gone is an error again."""
    from qp_analytics import files

    calls = []

    @files.read_while_unchanged("registry.csv")
    def reader(folder):
        calls.append(folder)
        return (Path(folder) / "registry.csv").read_text().splitlines()

    path = tmp_path / "registry.csv"
    path.write_text("a\nb\n")
    # just written: its state could stay the same through another write within the same tick of the clock
    assert reader(tmp_path) == ["a", "b"] and reader(tmp_path) == ["a", "b"] and len(calls) == 2
    monkeypatch.setattr(files, "RACY_NS", 0)
    first, again = reader(tmp_path), reader(tmp_path)
    assert first == again == ["a", "b"] and len(calls) == 3 and first is not again
    again.append("changed by a caller")
    assert reader(tmp_path) == ["a", "b"] and len(calls) == 3
    time.sleep(0.05)
    path.write_text("a\nc\n")  # the same size, other bytes
    assert reader(tmp_path) == ["a", "c"] and len(calls) == 4
    path.unlink()
    with pytest.raises(FileNotFoundError):
        reader(tmp_path)


def test_the_digest_the_raw_fingerprints_took_serves_the_steps_while_the_file_is_unchanged(tmp_path, monkeypatch):
    """A run's steps hash each raw file to tell what changed (sha256_of): a file in the state the raw folder's
    fingerprints saw gets their digest without being read (made up here, to show it); a file just written, or
    written since, is read."""
    from qp_analytics import files
    from qp_analytics.reading import raw_index
    from qp_analytics.reading.manifest import sha256_of

    raw = tmp_path / "raw"
    (raw / "conventions").mkdir(parents=True)
    a = raw / "conventions" / "a.txt"
    a.write_text("first")
    seen: dict = {}
    raw_fingerprints(raw, seen=seen)
    monkeypatch.setattr(raw_index, "RACY_NS", 0)
    raw_fingerprints(raw, known={"conventions/a.txt": [*files.file_state(a, change_time=True), "made-up"]})
    assert sha256_of(a) == hashlib.sha256(b"first").hexdigest()  # just written: not remembered (racy)
    monkeypatch.setattr(files, "RACY_NS", 0)
    assert raw_fingerprints(raw, known={"conventions/a.txt": [*files.file_state(a, change_time=True), "made-up"]}
                            )["conventions/a.txt"] == "made-up"
    assert sha256_of(a) == "made-up"
    time.sleep(0.05)  # past a tick of the coarsest file-system clock
    a.write_text("FIRST")  # the same size
    assert sha256_of(a) == hashlib.sha256(b"FIRST").hexdigest()


def test_the_digests_remembered_are_bounded_the_most_recent_kept(tmp_path, monkeypatch):
    """A long-lived process remembers at most DIGESTS_KEPT files' digests: past it, the older half is forgotten
    (the file is read again when asked), the most recently remembered kept."""
    from qp_analytics import files

    monkeypatch.setattr(files, "_DIGESTS", {})
    monkeypatch.setattr(files, "DIGESTS_KEPT", 4)
    monkeypatch.setattr(files, "RACY_NS", 0)
    paths = []
    for i in range(7):
        path = tmp_path / f"{i}.txt"
        path.write_text(f"file {i}")
        paths.append(path)
        files.remember_digest(path.stat(), f"made-up {i}")  # made up: a remembered digest shows as such
    # 5 remembered → over 4: the 3 oldest forgotten (5 − 4 // 2), then 2 more remembered
    assert len(files._DIGESTS) == 4
    assert [files.file_sha256(p) for p in paths[3:]] == [f"made-up {i}" for i in range(3, 7)]
    assert [files.file_sha256(p) for p in paths[:3]] == [hashlib.sha256(f"file {i}".encode()).hexdigest()
                                                        for i in range(3)]  # read again
    assert len(files._DIGESTS) <= 4
