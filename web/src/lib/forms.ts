import { isApiError } from "../api/errors";

/**
 * Splits an API error into messages for known form fields (shown next to them) and whether
 * something remains that only a form-level alert can show.
 */
export function splitErrors(
  error: unknown,
  known: readonly string[],
): { fields: Record<string, string>; showAlert: boolean } {
  if (!error) return { fields: {}, showAlert: false };
  if (!isApiError(error) || error.errors.length === 0) return { fields: {}, showAlert: true };
  const all = error.fieldErrors;
  const fields: Record<string, string> = {};
  let unmatched = false;
  for (const [key, msg] of Object.entries(all)) {
    if (known.includes(key)) fields[key] = msg;
    else unmatched = true;
  }
  return { fields, showAlert: unmatched || Object.keys(fields).length === 0 };
}
