import { CodeArt, Upcoming } from "./Upcoming";

export function Component() {
  return (
    <Upcoming
      eyebrow="Operate"
      title="Platform profiles"
      description="Your connection settings per platform, used by Connect to write code that runs as-is."
      api="GET /api/platform-profiles"
      art={<CodeArt />}
      features={[
        "Profiles for Snowflake, Databricks, BigQuery, Redshift and PostgreSQL",
        "Secrets as references: env:, file: or vault:",
        "Mark a default per platform; org admins set org-wide defaults",
      ]}
    />
  );
}
