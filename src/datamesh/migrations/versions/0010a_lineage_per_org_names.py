"""lineage: dataset and job names are unique per org; cross-org lineage links re-homed

Before, ``(namespace, name)`` was unique in the whole install and OpenLineage ingestion linked a
name to whichever org's dataset had it, hidden or not (issue 18). Now a name is unique within an
org (``(namespace, name, org_id)``, for datasets and for jobs) and a dataset name in a write
resolves to the sender's own dataset, else a readable one of another org (for names it reads),
else a new one in its org (ADR 0005); a job name means the sender's own job.

Existing data is brought under the rule without losing an edge: for every org whose
OpenLineage jobs wrote another org's dataset, or read one it may not read (not public), the org
gets its own dataset of that name (its default visibility, origin ``lineage``), and those jobs'
edges and column edges are moved onto it. The graph projection is then rebuilt (its cursor is
reset). Downgrade merges same-named datasets of different orgs into the oldest one, moving every
edge onto it, renames jobs whose names several orgs use (``name [org-slug]``, all but the oldest)
and restores the global uniqueness.

Revision ID: 0010a
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010a"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (org of the job, another org's dataset its OpenLineage edges may no longer touch)
_TO_REHOME = """
CREATE TEMPORARY TABLE rehome AS
SELECT org_id, old_id, gen_random_uuid() AS new_id FROM (
    SELECT p.org_id, d.id AS old_id
      FROM lineage_edges e
      JOIN processes p ON p.id = e.src_id
      JOIN datasets d ON d.id = e.dst_id
     WHERE e.origin = 'openlineage' AND e.src_kind = 'process' AND e.dst_kind = 'dataset'
       AND p.org_id <> d.org_id
    UNION
    SELECT p.org_id, d.id
      FROM lineage_edges e
      JOIN processes p ON p.id = e.dst_id
      JOIN datasets d ON d.id = e.src_id
     WHERE e.origin = 'openlineage' AND e.src_kind = 'dataset' AND e.dst_kind = 'process'
       AND p.org_id <> d.org_id AND d.visibility <> 'public'
    UNION
    SELECT p.org_id, d.id
      FROM column_edges c
      JOIN processes p ON p.id = c.process_id
      JOIN datasets d ON d.id IN (c.input_dataset_id, c.output_dataset_id)
     WHERE p.org_id <> d.org_id AND (d.visibility <> 'public' OR d.id = c.output_dataset_id)
) pairs
"""

_COPIES = """
INSERT INTO datasets (id, org_id, namespace, name, display_name, description, platform, tags,
                      visibility, status, origin, fields, version)
SELECT r.new_id, r.org_id, d.namespace, d.name, '', '', d.platform, '{}',
       coalesce(o.settings ->> 'default_visibility', 'internal'), 'active', 'lineage', '[]', 1
  FROM rehome r
  JOIN datasets d ON d.id = r.old_id
  JOIN organizations o ON o.id = r.org_id
"""

# Every OpenLineage edge and column edge between the org's jobs and the dataset moves to the
# org's own copy (once it has its own, its jobs' reads of the name resolve to it too).
_MOVE = [
    """UPDATE lineage_edges e SET dst_id = r.new_id
         FROM rehome r, processes p
        WHERE e.dst_id = r.old_id AND e.src_id = p.id AND p.org_id = r.org_id
          AND e.origin = 'openlineage'""",
    """UPDATE lineage_edges e SET src_id = r.new_id
         FROM rehome r, processes p
        WHERE e.src_id = r.old_id AND e.dst_id = p.id AND p.org_id = r.org_id
          AND e.origin = 'openlineage'""",
    """UPDATE column_edges c SET input_dataset_id = r.new_id
         FROM rehome r, processes p
        WHERE c.input_dataset_id = r.old_id AND c.process_id = p.id AND p.org_id = r.org_id""",
    """UPDATE column_edges c SET output_dataset_id = r.new_id
         FROM rehome r, processes p
        WHERE c.output_dataset_id = r.old_id AND c.process_id = p.id AND p.org_id = r.org_id""",
]


def _reproject(moved: str) -> str:
    """When something moved, the Bolt projection rebuilds itself from the tables (a cursor it
    can never have reached makes it do so, whatever the graph server holds; replaying the
    events would bring back the old links)."""
    return (
        "INSERT INTO graph_cursors (name, last_seq) "
        f"SELECT 'bolt', -1 WHERE EXISTS (SELECT 1 FROM {moved}) "
        "ON CONFLICT (name) DO UPDATE SET last_seq = -1, updated_at = now()"
    )


def upgrade() -> None:
    op.drop_constraint("uq_datasets_namespace_name", "datasets", type_="unique")
    op.create_unique_constraint(
        "uq_datasets_namespace_name_org_id", "datasets", ["namespace", "name", "org_id"]
    )
    op.drop_constraint("uq_processes_namespace_name", "processes", type_="unique")
    op.create_unique_constraint(
        "uq_processes_namespace_name_org_id", "processes", ["namespace", "name", "org_id"]
    )
    op.execute(_TO_REHOME)
    op.execute(_COPIES)
    for statement in _MOVE:
        op.execute(statement)
    op.execute(_reproject("rehome"))
    op.execute("DROP TABLE rehome")


# Each same-named group folds into its oldest row (created first, then lowest id).
_MERGE = """
CREATE TEMPORARY TABLE merge AS
SELECT id AS old_id, first_value(id) OVER w AS keep_id
  FROM datasets
WINDOW w AS (PARTITION BY namespace, name ORDER BY created_at, id)
"""

# Rows after the fold: every edge's ends mapped onto the kept rows.
_EDGES_FOLDED = """
SELECT e.id, e.src_id, e.dst_id,
       coalesce(ms.keep_id, e.src_id) AS s, coalesce(md.keep_id, e.dst_id) AS d
  FROM lineage_edges e
  LEFT JOIN merge ms ON ms.old_id = e.src_id
  LEFT JOIN merge md ON md.old_id = e.dst_id
"""
_COLUMNS_FOLDED = """
SELECT c.id, c.output_dataset_id, c.input_dataset_id, c.output_field, c.input_field,
       coalesce(mo.keep_id, c.output_dataset_id) AS o, coalesce(mi.keep_id, c.input_dataset_id) AS i
  FROM column_edges c
  LEFT JOIN merge mo ON mo.old_id = c.output_dataset_id
  LEFT JOIN merge mi ON mi.old_id = c.input_dataset_id
"""

_FOLD = [
    "DELETE FROM merge WHERE old_id = keep_id",
    # An edge that would then exist twice is dropped (the link stays, once: an unmoved edge is
    # the one kept), as is one that would loop; every other edge moves onto the kept row.
    f"""DELETE FROM lineage_edges WHERE id IN (
          SELECT id FROM (
            SELECT id, s, d, row_number() OVER (
                     PARTITION BY s, d ORDER BY (src_id = s AND dst_id = d) DESC, id) AS n
              FROM ({_EDGES_FOLDED}) f) r
           WHERE n > 1 OR s = d)""",
    f"""UPDATE lineage_edges e SET src_id = f.s, dst_id = f.d FROM ({_EDGES_FOLDED}) f
         WHERE e.id = f.id AND (f.s <> f.src_id OR f.d <> f.dst_id)""",
    f"""DELETE FROM column_edges WHERE id IN (
          SELECT id FROM (
            SELECT id, row_number() OVER (
                     PARTITION BY o, output_field, i, input_field
                     ORDER BY (output_dataset_id = o AND input_dataset_id = i) DESC, id) AS n
              FROM ({_COLUMNS_FOLDED}) f) r
           WHERE n > 1)""",
    f"""UPDATE column_edges c SET output_dataset_id = f.o, input_dataset_id = f.i
          FROM ({_COLUMNS_FOLDED}) f
         WHERE c.id = f.id AND (f.o <> f.output_dataset_id OR f.i <> f.input_dataset_id)""",
    _reproject("merge"),
    "DELETE FROM datasets d USING merge m WHERE d.id = m.old_id",
    "DROP TABLE merge",
]


# Jobs of different orgs with one name: all but the oldest get their org's slug appended to
# the name (a job keeps its runs and edges; only its name tells the orgs apart again).
_RENAME_JOBS = """
UPDATE processes p SET name = left(p.name, 1000 - length(o.slug) - 3) || ' [' || o.slug || ']'
  FROM organizations o,
       (SELECT id, row_number() OVER (PARTITION BY namespace, name ORDER BY created_at, id) AS n
          FROM processes) r
 WHERE r.id = p.id AND r.n > 1 AND o.id = p.org_id
"""


def downgrade() -> None:
    op.execute(_RENAME_JOBS)
    op.drop_constraint("uq_processes_namespace_name_org_id", "processes", type_="unique")
    op.create_unique_constraint("uq_processes_namespace_name", "processes", ["namespace", "name"])
    op.execute(_MERGE)
    for statement in _FOLD:
        op.execute(statement)
    op.drop_constraint("uq_datasets_namespace_name_org_id", "datasets", type_="unique")
    op.create_unique_constraint("uq_datasets_namespace_name", "datasets", ["namespace", "name"])
