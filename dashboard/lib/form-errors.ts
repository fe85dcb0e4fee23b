/**
 * Turn an API error into per-field messages for a form.
 *
 * The services answer bad input two ways: FastAPI's validation list
 * (`[{loc: ["body", "temperature"], msg}]`) and a business error string that starts with the
 * field's name (`"prompt_template_id: no such prompt template"`). Both land on their field;
 * anything else is a general message.
 */
export type FieldErrors = Record<string, string>;

export interface SplitErrors {
  fields: FieldErrors;
  general: string | null;
}

interface ValidationItem {
  loc?: unknown[];
  msg?: string;
}

function isValidationItem(value: unknown): value is ValidationItem {
  return typeof value === "object" && value !== null && "msg" in value;
}

/** `detail` as the API sent it (string or FastAPI's list) → field messages + the rest. */
export function splitDetail(detail: unknown, known: readonly string[]): SplitErrors {
  const fields: FieldErrors = {};
  const general: string[] = [];
  if (Array.isArray(detail)) {
    for (const item of detail) {
      if (!isValidationItem(item)) continue;
      // loc starts with where the value came from ("body", "query"): skip it, since a
      // field may itself be called "body" (a prompt template's).
      const loc = (item.loc ?? [])
        .slice(1)
        .filter((part): part is string => typeof part === "string");
      const field = loc.find((part) => known.includes(part));
      const msg = (item.msg ?? "invalid value").replace(/^Value error, /, "");
      if (field && !fields[field]) fields[field] = msg;
      else if (!field) general.push(loc.length ? `${loc.join(".")}: ${msg}` : msg);
    }
  } else if (typeof detail === "string") {
    const match = /^([a-z_]+): ([\s\S]+)$/.exec(detail);
    if (match && known.includes(match[1])) fields[match[1]] = match[2];
    else general.push(detail);
  } else if (detail != null) {
    general.push(JSON.stringify(detail));
  }
  return { fields, general: general.length ? general.join("; ") : null };
}

/** The line a prompt-template 422 names ("… on line 3 …"), or null. */
export function errorLine(detail: unknown): number | null {
  if (typeof detail !== "string") return null;
  const match = /\bon line (\d+)\b/.exec(detail);
  return match ? Number(match[1]) : null;
}
