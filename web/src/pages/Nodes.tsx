import { CardsArt, Upcoming } from "./Upcoming";

export function Component() {
  return (
    <Upcoming
      eyebrow="Operate"
      title="Nodes"
      description="The systems your data lives on: databases, warehouses, object stores and streams."
      api="GET /api/nodes"
      art={<CardsArt />}
      features={[
        "Card grid with type and status filters, search and sort",
        "Add a node with a form generated for its connector type",
        "Validate settings and test the connection before saving",
        "Secrets are references only, never stored in DataMesh",
      ]}
    />
  );
}
