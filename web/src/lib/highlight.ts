/**
 * Syntax highlighting for generated code: highlight.js core with only the languages Connect
 * writes (Python, SQL, YAML), so the bundle stays small and nothing loads from elsewhere.
 * highlight.js escapes the code it wraps, so its HTML output is safe to insert.
 */
import hljs from "highlight.js/lib/core";
import python from "highlight.js/lib/languages/python";
import sql from "highlight.js/lib/languages/sql";
import yaml from "highlight.js/lib/languages/yaml";

hljs.registerLanguage("python", python);
hljs.registerLanguage("sql", sql);
hljs.registerLanguage("yaml", yaml);

const ALIASES: Record<string, string> = { py: "python", pyspark: "python", yml: "yaml", dbt: "yaml" };

/** The highlight.js language for an artifact's language, or null (shown as plain text). */
export function languageFor(language: string): string | null {
  const key = language.toLowerCase();
  const name = ALIASES[key] ?? key;
  return hljs.getLanguage(name) ? name : null;
}

/** HTML for the code: highlighted spans, or the escaped text when the language is unknown. */
export function highlightHtml(code: string, language: string): string {
  const name = languageFor(language);
  if (!name) return escapeHtml(code);
  return hljs.highlight(code, { language: name, ignoreIllegals: true }).value;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);
}

/** A human name for an artifact kind. */
export function kindLabel(kind: string): string {
  const labels: Record<string, string> = { python: "Python", sql: "SQL", pyspark: "PySpark", jdbc: "JDBC", dbt: "dbt" };
  return labels[kind] ?? kind.charAt(0).toUpperCase() + kind.slice(1);
}
