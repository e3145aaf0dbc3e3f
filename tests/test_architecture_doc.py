"""The asset graph drawn in docs/architecture.md is the one the definitions load: every asset, nothing else."""

import re

from pipelines.definitions import defs
from tests.conftest import REPO


def _drawn_assets() -> set[str]:
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    diagram = text.split("```mermaid", 1)[1].split("```", 1)[0]
    return set(re.findall(r'\["([a-z_]+/[a-z_]+)"\]', diagram))


def test_the_architecture_picture_draws_every_asset_and_nothing_else():
    defined = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    drawn = _drawn_assets()
    assert drawn - defined == set(), "drawn but not defined"
    assert defined - drawn == set(), "defined but not drawn"

