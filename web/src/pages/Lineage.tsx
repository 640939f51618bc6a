import { GraphArt, Upcoming } from "./Upcoming";

export function Component() {
  return (
    <Upcoming
      eyebrow="Discover"
      title="Lineage"
      description="How data flows between datasets and jobs, and what breaks if something fails."
      api="GET /api/lineage/graph"
      art={<GraphArt />}
      features={[
        "Interactive graph with upstream and downstream depth controls",
        "Expand any node in place; pan, zoom and minimap",
        "Health shown on every node, restricted nodes shown as placeholders",
        "Impact panel: affected datasets and people to notify, with CSV export",
      ]}
    />
  );
}
