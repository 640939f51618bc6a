/** Display names of data platforms and connector types. */
const PLATFORM_LABELS: Record<string, string> = {
  snowflake: "Snowflake",
  databricks: "Databricks",
  bigquery: "BigQuery",
  redshift: "Redshift",
  postgresql: "PostgreSQL",
  s3: "Amazon S3",
  kafka: "Kafka",
  http_api: "HTTP API",
};

export function platformLabel(p: string): string {
  return PLATFORM_LABELS[p] ?? p.charAt(0).toUpperCase() + p.slice(1);
}
