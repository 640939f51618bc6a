import { AuditArt, Upcoming } from "./Upcoming";

export function Component() {
  return (
    <Upcoming
      eyebrow="Operate"
      title="Governance"
      description="The tamper-evident audit trail of every change in your organization."
      api="GET /api/audit"
      art={<AuditArt />}
      features={[
        "Search the audit log by actor, action, resource and time",
        "See before and after for every change",
        "Export the results",
      ]}
    />
  );
}
