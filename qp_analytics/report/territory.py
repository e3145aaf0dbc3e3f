"""What a territory's page shows: the marts' rows it is drawn from (TerritorySources, TerritoryInputs), the
digest of those rows that says whether the page must be drawn again, and the French values its template lays
out."""

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from qp_analytics.report.formatting import (
    NA,
    View,
    code_label,
    delay_text,
    format_bool,
    format_count,
    format_date,
    format_days,
    format_euros,
    format_number,
    format_percent,
    is_null,
    partner_label,
    partner_order,
    plural,
    ratio,
    reuse_text,
    share_text,
    signature_text,
)
from qp_analytics.report.labels import AXE_LABELS, CANAL_LABELS, ITEM_TYPE_LABELS

TERRITORY_FOLDER = "territoires"
# the seeds of the two hashes a row of a page's sources counts by in its digest (TerritorySources.digests)
ROW_SEEDS = (0x5150_7061_6765, 0x7465_7272_6974)


def page_path(territory_id: str) -> str:
    """A territory page's path within the report folder."""
    return f"{TERRITORY_FOLDER}/{territory_id}.html"


def page_link(territory_id: str, names: Mapping[str, str | None], prefix: str) -> View:
    """A link to a territory's page, or its id alone when the publication has no page for it (a territory named
    in the data but absent from the release)."""
    name = names.get(territory_id)
    if name is None:
        return View(href=None, text=territory_id)
    return View(href=prefix + page_path(territory_id), text=name)


@dataclass(frozen=True)
class TerritoryInputs:
    """Everything a territory page is drawn from but the release's id and date of publication (its stamp): its
    rows in the marts (TerritorySources), the evaluation date, its neighbours by id and the names of the
    territories its practices link to."""
    territory_id: str
    as_of: dt.date
    row: dict[str, Any]  # mart_evaluation_territories
    partners: list[dict[str, Any]]  # mart_partner_mobilisation, national partners first
    practices: list[dict[str, Any]]  # mart_practice_diffusion: its own practices
    reused_here: list[dict[str, Any]]  # mart_practice_diffusion: other territories' practices it reused
    late_items: list[dict[str, Any]]  # mart_late_items
    funding: list[dict[str, Any]]  # mart_funding
    previous: tuple[str, str] | None  # (id, name) of the page before it, by id
    following: tuple[str, str] | None
    names: dict[str, str | None]  # the territories its practices link to: id -> name (None: not in the release)


def _rows_by_page(grouped: pl.DataFrame, key: str, spans: Mapping[str, tuple[int, int]], pages: Sequence[str]
                  ) -> dict[str, list[dict[str, Any]]]:
    """The rows of these pages' territories (by the key column), in their order in the frame. grouped: the frame
    with each territory's rows together and spans where they are (`TerritorySources._grouped`), so that a chunk of
    pages costs its own rows, not the whole frame's (filtering each source for each of a 1,400-territory report's
    44 chunks: 0.084 s, the gathers 0.031 s; splitting it into a frame per territory costs more than either)."""
    indices = [i for page in dict.fromkeys(pages) if page in spans
               for i in range(spans[page][0], spans[page][0] + spans[page][1])]
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in grouped[indices].iter_rows(named=True):
        rows.setdefault(row[key], []).append(row)
    return rows


class TerritorySources:
    """The marts' rows behind every territory page of a release, and the pages' neighbours and names: what
    TerritoryInputs are built from, and what their digests are computed from — the same frames, so that a page
    whose digest is unchanged would be drawn the same."""

    def __init__(self, marts: Mapping[str, pl.DataFrame], as_of: dt.date) -> None:
        self.as_of = as_of
        evaluation = marts["mart_evaluation_territories"].sort("territory_id")
        self.ids: list[str] = evaluation["territory_id"].to_list()
        self.positions = {t: i for i, t in enumerate(self.ids)}
        self.names: dict[str, str] = {t: name or t for t, name in evaluation.select("territory_id", "name").iter_rows()}
        diffusion = marts["mart_practice_diffusion"]
        # each page's rows in one frame per source: (frame, the column naming the page's territory)
        self.frames: dict[str, tuple[pl.DataFrame, str]] = {
            "row": (evaluation, "territory_id"),
            "partners": (marts["mart_partner_mobilisation"], "territory_id"),
            "practices": (diffusion, "territory_id"),
            # the practices each territory reused, found once for all (not one filter of the whole mart per page)
            "reused_here": (diffusion.with_columns(reuser=pl.col("reused_by")).explode("reuser")
                            .unique(subset=["territory_id", "pratique_id", "reuser"], keep="first",
                                    maintain_order=True), "reuser"),
            "late_items": (marts["mart_late_items"], "territory_id"),
            "funding": (marts["mart_funding"], "territory_id"),
        }
        self._groups: dict[str, tuple[pl.DataFrame, dict[str, tuple[int, int]]]] = {}  # _grouped's, by source

    def _grouped(self, source: str) -> tuple[pl.DataFrame, dict[str, tuple[int, int]]]:
        """A source's frame with each territory's rows together (sorted by its key, stably: in their order in the
        frame within a territory), and where they are: {territory id: (first row, rows)}. Made once, when first
        asked for."""
        if source not in self._groups:
            frame, key = self.frames[source]
            grouped = frame.drop_nulls(key).sort(key, maintain_order=True)
            spans: dict[str, tuple[int, int]] = {}
            first = 0
            for page, rows in grouped.group_by(key, maintain_order=True).len().iter_rows():
                spans[page] = (first, rows)
                first += rows
            self._groups[source] = (grouped, spans)
        return self._groups[source]

    def neighbours(self, territory_id: str) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
        """The pages before and after this one, by id: (id, name) each, or None at either end."""
        position = self.positions[territory_id]
        before = self.ids[position - 1] if position > 0 else None
        after = self.ids[position + 1] if position + 1 < len(self.ids) else None
        return ((before, self.names[before]) if before else None, (after, self.names[after]) if after else None)

    def _linked(self, only: Sequence[str] | None) -> pl.DataFrame:
        """Per page, the territories its practices link to (the reusers of its practices, the origins of those
        it reused) with their names (null: no page in this release), sorted."""
        diffusion = self.frames["practices"][0]
        own = diffusion.select(page=pl.col("territory_id"), linked=pl.col("reused_by")).explode("linked")
        here = self.frames["reused_here"][0].select(page=pl.col("reuser"), linked=pl.col("territory_id"))
        links = pl.concat([own, here]).drop_nulls().unique()
        if only is not None:
            links = links.filter(pl.col("page").is_in(list(only)))
        names = pl.DataFrame({"linked": list(self.names), "name": list(self.names.values())},
                             schema={"linked": pl.String, "name": pl.String})
        return links.join(names, on="linked", how="left").sort("page", "linked")

    def digests(self, code_version: str, only: Sequence[str] | None = None) -> dict[str, str]:
        """Each page's digest (territory id -> SHA-256): of the code that draws it and of everything its
        TerritoryInputs hold — its rows of each source (in the frame's order), the evaluation date, its
        neighbours and the names it links to. Computed for all the pages at once, without building their inputs.

        A row counts by two 64-bit hashes of all its values (polars' `hash`, two seeds: ROW_SEEDS), the frames'
        columns and types by name in the digest's head: a row that changes in any value changes the page's
        digest (but for a collision of both hashes at once). Hashing the rows rather than writing them as JSON
        took the digests of 1,400 pages from 0.12 to 0.06 s (0.19 to 0.13 s beside the release's exports). The
        hashes may differ between polars versions: the code version holds polars' (a new one redraws every
        page); they are the same from one process to the next (test)."""
        wanted = self.ids if only is None else [t for t in self.ids if t in set(only)]
        parts: dict[str, dict[str, str]] = {}
        for source, (frame, key) in self.frames.items():
            if only is not None:
                frame = frame.filter(pl.col(key).is_in(wanted))
            hashed = (frame.drop_nulls(key)
                      .select(pl.col(key).alias("_page"),
                              pl.format("{}.{}", *(pl.struct(pl.all()).hash(seed) for seed in ROW_SEEDS)).alias("_row"))
                      .group_by("_page", maintain_order=True).agg(pl.col("_row").str.join(",")))
            parts[source] = dict(hashed.iter_rows())
        linked = self._linked(wanted).group_by("page", maintain_order=True).agg(
            pl.struct("linked", "name").struct.json_encode().str.join(","))
        links = dict(linked.iter_rows())
        schemas = {source: [f"{name} {dtype}" for name, dtype in frame.schema.items()]
                   for source, (frame, _) in self.frames.items()}
        head = json.dumps([code_version, self.as_of.isoformat(), schemas]).encode("utf-8")
        digests = {}
        for territory_id in wanted:  # each piece with its length before it: no JSON of JSON to escape again
            digest = hashlib.sha256(head)
            for piece in (territory_id, *(parts[source].get(territory_id, "") for source in self.frames),
                          json.dumps(self.neighbours(territory_id), ensure_ascii=False), links.get(territory_id, "")):
                data = piece.encode("utf-8")
                digest.update(len(data).to_bytes(8, "little"))
                digest.update(data)
            digests[territory_id] = digest.hexdigest()
        return digests

    def inputs(self, only: Sequence[str]) -> dict[str, TerritoryInputs]:
        """The inputs of these territories' pages (in the order given), drawn from the same frames."""
        wanted = list(only)
        rows = {}
        for source, (_, key) in self.frames.items():
            grouped, spans = self._grouped(source)
            rows[source] = _rows_by_page(grouped, key, spans, wanted)
        inputs = {}
        for territory_id in wanted:
            page = {source: by_page.get(territory_id, []) for source, by_page in rows.items()}
            own = sorted(page["practices"], key=lambda p: p["pratique_id"])
            here = sorted(({k: v for k, v in p.items() if k != "reuser"} for p in page["reused_here"]),
                          key=lambda p: (p["territory_id"], p["pratique_id"]))
            linked = [t for p in own for t in (p["reused_by"] or [])] + [p["territory_id"] for p in here]
            previous, following = self.neighbours(territory_id)
            inputs[territory_id] = TerritoryInputs(
                territory_id, self.as_of, page["row"][0],
                sorted(page["partners"], key=lambda p: partner_order(p["partner"])), own, here,
                page["late_items"], page["funding"], previous, following, {t: self.names.get(t) for t in linked})
        return inputs


def _late_items(r: dict[str, Any], as_of: dt.date) -> list[View]:
    """What is late and what is not, in sentences: the roadmap, the actions due, the milestones due."""
    items: list[tuple[bool, str]] = []
    status, due = r["roadmap_status"], r["roadmap_due_date"]
    if status == "late":
        items.append((True, f"Feuille de route annexée le {format_date(r['roadmap_annexed_date'])}, "
                            f"{delay_text(r['roadmap_delay_days'])} sur l'échéance du {format_date(due)}."))
    elif status == "missing":
        overdue = (as_of - due).days if due is not None else None
        items.append((True, f"Feuille de route non annexée au {format_date(as_of)} : elle était attendue le "
                            f"{format_date(due)}"
                            + (f", soit {format_count(overdue, 'jour', 'jours')} de retard à cette date."
                               if overdue is not None else ".")))
    elif status == "on_time":
        items.append((False, f"Feuille de route annexée le {format_date(r['roadmap_annexed_date'])}, dans les délais "
                             f"({delay_text(r['roadmap_delay_days'])} sur l'échéance du {format_date(due)})."))
    elif status == "pending":
        items.append((False, f"Feuille de route attendue le {format_date(due)} : échéance non atteinte."))
    due_actions, on_time = r["actions_due"], r["actions_on_time"]
    if due_actions:
        late = due_actions - (on_time or 0)
        text = (f"{format_count(late, 'action échue', 'actions échues')} sur {format_number(due_actions)} "
                f"{'n’a' if late < 2 else 'n’ont'} pas été {'achevée' if late < 2 else 'achevées'} à temps "
                "(achevées après la fin prévue, ou pas encore achevées)." if late else
                ("L'action échue a été achevée à temps." if due_actions == 1 else
                 f"Les {format_count(due_actions, 'action échue', 'actions échues')} ont été achevées à temps."))
        items.append((late > 0, text))
    elif due_actions == 0:
        items.append((False, f"Aucune action n'arrivait à échéance au {format_date(as_of)}."))
    due_milestones, late_milestones = r["milestones_due"], r["milestones_late"]
    if due_milestones:
        median = r["median_milestone_delay_days"]
        median_text = (f" Écart médian entre date prévue et date réelle des jalons atteints : {format_days(median)} "
                       "(négatif : en avance)."
                       if not is_null(median) else "")
        text = (f"{format_count(late_milestones, 'jalon échu', 'jalons échus')} sur {format_number(due_milestones)} "
                f"en retard (atteints après la date prévue, ou pas encore atteints).{median_text}"
                if late_milestones else
                ("Le jalon échu a été atteint à temps." if due_milestones == 1 else
                 f"Les {format_count(due_milestones, 'jalon échu', 'jalons échus')} ont été atteints à temps.")
                + median_text)
        items.append((bool(late_milestones), text))
    elif due_milestones == 0:
        items.append((False, f"Aucun jalon n'arrivait à échéance au {format_date(as_of)}."))
    return [View(late=late, text=text) for late, text in items]


def _kpis(row: dict[str, Any]) -> list[View]:
    actions = ("" if row["actions_due"] is None else
               (f"{format_number(row['actions_on_time'])} sur "
                f"{format_count(row['actions_due'], 'action échue', 'actions échues')}" if row["actions_due"]
                else "aucune action échue")
               + f" ; {format_count(row['actions_total'], 'action', 'actions')} au total")
    milestones = ("" if row["milestones_due"] is None else
                  f"sur {format_count(row['milestones_due'], 'jalon échu', 'jalons échus')}" if row["milestones_due"]
                  else "aucun jalon échu")
    reusers = (f" par {format_count(row['reusing_territories'], 'autre territoire', 'autres territoires')}"
               if row["reuse_links"] else " par d'autres territoires")
    return [
        View(value=format_percent(row["action_on_time_rate"]), label="des actions échues achevées à temps",
             basis=actions),
        View(value=format_number(row["milestones_late"]),
             label=plural(row["milestones_late"], "jalon en retard", "jalons en retard"), basis=milestones),
        View(value=format_euros(row["total_amount_granted"]), label="accordés, tous financeurs",
             basis=f"sur {format_euros(row['total_amount_requested'])} sollicités ; "
                   f"{format_euros(row['total_amount_paid'])} versés"),
        View(value=format_days(row["median_instruction_days_all"]), label="délai médian d'instruction",
             basis=f"toutes demandes décidées ; "
                   f"{format_count(row['total_pending_requests'], 'demande', 'demandes')} en instruction"),
        View(value=format_number(row["partners_involved"]),
             label=plural(row["partners_involved"], "partenaire impliqué", "partenaires impliqués")
             + " dans au moins une action", basis=""),
        View(value=f"{format_number(row['practices_shared'])} / {format_number(row['practices_documented'])}"
             if row["practices_documented"] is not None else NA, label="bonnes pratiques partagées / documentées",
             basis=reuse_text(row["reuse_links"]) + reusers),
    ]


def territory_view(inputs: TerritoryInputs) -> View:
    """Everything a territory page shows, in French, from its inputs alone."""
    row, as_of = inputs.row, inputs.as_of
    chef = row["chef_de_file"]
    partners = []
    for p in inputs.partners:
        partners.append(View(
            label=partner_label(p["partner"]), chef=p["is_chef_de_file"],
            actions=format_number(p["actions_involved"]),
            actions_detail=f"dont {format_number(p['pilot_actions'])} en pilote · "
                           f"{format_percent(p['actions_share'])} des actions",
            requested=format_euros(p["amount_requested"]), granted=format_euros(p["amount_granted"]),
            grant_share=share_text(p["grant_share"]), paid=format_euros(p["amount_paid"]),
            requests=format_number(p["requests"]),
            requests_detail=f"{format_count(p['decided_requests'], 'décidée', 'décidées')} · "
                            f"{format_number(p['pending_requests'])} en instruction",
            days=format_days(p["median_instruction_days"]),
            attendance=ratio(p["meetings_attended"], p["meetings_total"]) if p["meetings_total"] else NA,
            attendance_rate=format_percent(p["attendance_rate"]) if p["meetings_total"] else "",
        ))
    late_items = []
    for r in inputs.late_items:
        late_items.append(View(
            type=ITEM_TYPE_LABELS.get(r["item_type"], r["item_type"]), item=r["item"],
            action=r["action_id"] if r["item_type"] == "milestone" or r["action_id"] else None,
            milestone=r["item_type"] == "milestone",
            due=format_date(r["due_date"]),
            done=(format_date(r["done_date"]) if r["done_date"] is not None
                  else f"pas encore au {format_date(as_of)}"),
            days=format_count(r["days_late"], "jour", "jours")))
    funding = []
    for r in inputs.funding:
        funding.append(View(
            axe=code_label(AXE_LABELS, r["axe"]), financeur=partner_label(r["financeur"]),
            requests=format_number(r["requests"]),
            pending=(f"{format_number(r['pending_requests'])} en instruction"
                     + (f", la plus ancienne depuis {format_count(r['oldest_pending_days'], 'jour', 'jours')}"
                        if r["oldest_pending_days"] is not None else "") if r["pending_requests"] else ""),
            requested=format_euros(r["amount_requested"]), granted=format_euros(r["amount_granted"]),
            paid=format_euros(r["amount_paid"])))
    practices = [View(
        id=p["pratique_id"], title=p["titre"] or NA, axe=code_label(AXE_LABELS, p["axe"]),
        shared=(format_date(p["date_partage"]) if p["date_partage"] is not None
                else f"non partagée au {format_date(as_of)}"),
        canal=code_label(CANAL_LABELS, p["canal"]),
        reusers=[page_link(t, inputs.names, "../") for t in (p["reused_by"] or [])]) for p in inputs.practices]
    reused_here = [View(origin=page_link(p["territory_id"], inputs.names, "../"), id=p["pratique_id"],
                        title=p["titre"] or NA, axe=code_label(AXE_LABELS, p["axe"])) for p in inputs.reused_here]
    practices_summary = (
        f"{format_count(row['practices_documented'], 'bonne pratique documentée', 'bonnes pratiques documentées')}, "
        f"dont {format_count(row['practices_shared'], 'partagée', 'partagées')} avec le réseau national au "
        f"{format_date(as_of)} ({format_percent(row['shared_rate'])}) ; "
        f"{format_count(row['axes_covered'], 'axe couvert', 'axes couverts')} ; délai médian entre la fin de "
        f"l'action et le partage : {format_days(row['median_days_to_share'])}."
        if row["practices_documented"] else "")
    convention, roadmap = row["convention_provenance"], row["roadmap_provenance"]
    illustrative = [label for label, value in (("la convention d'engagement", convention),
                                               ("la feuille de route", roadmap)) if value == "illustrative"]
    subject = " et ".join(illustrative)
    banner = View(kind="illustrative" if illustrative else "real" if convention == roadmap == "real" else "unknown",
                  subject=subject[:1].upper() + subject[1:], plural=len(illustrative) > 1,
                  convention=convention, roadmap=roadmap,
                  avenants=format_number(row["avenants_effective"]) if row["avenants_effective"] else "")
    return View(
        id=inputs.territory_id,
        name=row["name"] or inputs.territory_id,
        chef=partner_label(chef) if chef else None,
        departement=f"{row['departement']} ({row['departement_code']})" if row["departement"] else NA,
        siren=row["siren"] or NA,
        calendar=[
            ("Labellisation", format_date(row["labellisation_date"])),
            ("Convention signée le", signature_text(row, as_of)),
            ("Fin de la convention", format_date(row["convention_end_date"])),
            (f"En vigueur au {format_date(as_of)}", format_bool(row["in_force"])),
            ("Avenants pris en compte", format_number(row["avenants_effective"])),
            ("Feuille de route due le", format_date(row["roadmap_due_date"])),
            ("Feuille de route annexée le", format_date(row["roadmap_annexed_date"])),
        ],
        status=row["roadmap_status"],
        delay=delay_text(row["roadmap_delay_days"]),
        kpis=_kpis(row),
        chef_facts=[
            ("Actions où il intervient", f"{format_number(row['chef_actions_involved'])} "
             f"({format_percent(row['chef_actions_share'])} des actions)"
             if row["chef_actions_involved"] is not None else NA),
            ("Montants qu'il a accordés", format_euros(row["chef_amount_granted"])),
            ("Son délai médian d'instruction", format_days(row["chef_median_instruction_days"])),
            ("Sa présence aux réunions de gouvernance", format_percent(row["chef_attendance_rate"])),
        ],
        banner=banner,
        late=_late_items(row, as_of),
        late_items=late_items,
        late_count=format_count(len(inputs.late_items), "élément en retard", "éléments en retard"),
        partners=partners,
        totals=View(requested=format_euros(row["total_amount_requested"]),
                    granted=format_euros(row["total_amount_granted"]),
                    paid=format_euros(row["total_amount_paid"]),
                    requests=format_number(row["total_requests"]),
                    pending=f"{format_number(row['total_pending_requests'])} en instruction",
                    days=format_days(row["median_instruction_days_all"])),
        any_request=any((p["requests"] or 0) > 0 for p in inputs.partners),
        funding=funding,
        practices_summary=practices_summary,
        practices=practices,
        reused_here=reused_here,
        previous=inputs.previous,
        following=inputs.following,
    )
