// @ts-check
// Plain JavaScript (checked by tsc through JSDoc) so `node --test` runs its unit test.
//
// Filling a WhatsApp template's placeholders and a canned reply's variables, as the backend
// checks them (services/ingest/ingest/templates.py): `{{1}}`, `{{2}}`… are positional (sent as a
// list), `{{first_name}}` named (sent as an object); a TEXT header has its own, a media header
// (IMAGE/VIDEO/DOCUMENT) takes an https link.

/**
 * @typedef {import("./inbox-types").Template} Template
 * @typedef {import("./inbox-types").TemplateComponent} TemplateComponent
 * @typedef {import("./inbox-types").TemplateParameters} TemplateParameters
 * @typedef {{ key: string, label: string }} TemplateField one input; `key` is how a 422 names it
 * @typedef {{
 *   header: { kind: "text" | "media" | null, format: string | null, fields: TemplateField[], text: string },
 *   body: { fields: TemplateField[], text: string },
 *   footer: string | null,
 * }} TemplateForm
 */

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;
const MEDIA = new Set(["IMAGE", "VIDEO", "DOCUMENT"]);

/**
 * The distinct placeholders of a text, in order of first appearance.
 * @param {string} text
 * @returns {string[]}
 */
export function placeholders(text) {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1]))];
}

/**
 * @param {Template} t
 * @param {string} kind
 * @returns {TemplateComponent | undefined}
 */
function component(t, kind) {
  return t.components.find((c) => String(c.type ?? "").toUpperCase() === kind);
}

/**
 * @param {"body" | "header.text"} where
 * @param {string} text
 * @returns {TemplateField[]}
 */
function textFields(where, text) {
  const names = placeholders(text);
  if (names.every((n) => /^\d+$/.test(n))) {
    const count = names.length ? Math.max(...names.map(Number)) : 0;
    return Array.from({ length: count }, (_, i) => ({ key: `${where}.${i}`, label: `{{${i + 1}}}` }));
  }
  return names.map((n) => ({ key: `${where}.${n}`, label: `{{${n}}}` }));
}

/**
 * The inputs a template needs (header, then body) and the texts they fill.
 * @param {Template} t
 * @returns {TemplateForm}
 */
export function templateForm(t) {
  const header = component(t, "HEADER");
  const format = header ? String(header.format ?? "TEXT").toUpperCase() : null;
  const bodyText = String(component(t, "BODY")?.text ?? "");
  const headerText = format === "TEXT" ? String(header?.text ?? "") : "";
  return {
    header: {
      kind: !header ? null : MEDIA.has(format ?? "") ? "media" : format === "TEXT" ? "text" : null,
      format,
      fields:
        format && MEDIA.has(format)
          ? [{ key: "header.link", label: `${format.toLowerCase()} link (https)` }]
          : textFields("header.text", headerText),
      text: headerText,
    },
    body: { fields: textFields("body", bodyText), text: bodyText },
    footer: component(t, "FOOTER")?.text ?? null,
  };
}

/**
 * @param {TemplateField[]} fields
 * @param {Record<string, string>} given
 * @returns {string[] | Record<string, string> | undefined}
 */
function values(fields, given) {
  if (fields.length === 0) return undefined;
  const positional = /\.\d+$/.test(fields[0].key);
  if (positional) return fields.map((f) => given[f.key] ?? "");
  return Object.fromEntries(fields.map((f) => [String(f.key.split(".").pop()), given[f.key] ?? ""]));
}

/**
 * The send's `parameters` from the form's values (by field key).
 * @param {TemplateForm} form
 * @param {Record<string, string>} given
 * @returns {TemplateParameters}
 */
export function buildParameters(form, given) {
  /** @type {TemplateParameters} */
  const out = {};
  const body = values(form.body.fields, given);
  if (body) out.body = body;
  if (form.header.kind === "media") out.header = { link: given["header.link"] ?? "" };
  else if (form.header.kind === "text") {
    const text = values(form.header.fields, given);
    if (text) out.header = { text };
  }
  return out;
}

/**
 * @param {string} text
 * @param {string} where
 * @param {Record<string, string>} given
 */
function fill(text, where, given) {
  return text.replace(PLACEHOLDER, (whole, /** @type {string} */ name) => {
    const key = /^\d+$/.test(name) ? `${where}.${Number(name) - 1}` : `${where}.${name}`;
    return given[key] ? given[key] : whole;
  });
}

/**
 * What the customer will read (header, body, footer), placeholders not yet filled kept.
 * @param {TemplateForm} form
 * @param {Record<string, string>} given
 */
export function preview(form, given) {
  /** @type {string[]} */
  const parts = [];
  if (form.header.kind === "media") parts.push(`[${(form.header.format ?? "media").toLowerCase()}]`);
  else if (form.header.text) parts.push(fill(form.header.text, "header.text", given));
  if (form.body.text) parts.push(fill(form.body.text, "body", given));
  if (form.footer) parts.push(form.footer);
  return parts.join("\n\n");
}

/**
 * The field a 422's detail names ("parameters.body[0] is empty" → "body.0"), if any.
 * @param {string} detail
 * @returns {string | null}
 */
export function fieldOfDetail(detail) {
  const m = detail.match(/parameters\.(body|header\.text|header\.link|header)(?:\[(\d+)\]|\.([A-Za-z0-9_]+))?/);
  if (!m) return null;
  if (m[1] === "header.link") return "header.link";
  if (m[1] === "header") return m[3] === "link" ? "header.link" : null;
  if (m[2] !== undefined) return `${m[1]}.${m[2]}`;
  if (m[3] !== undefined) return `${m[1]}.${m[3]}`;
  return null;
}

/**
 * A canned reply's text with {{customer_name}} and {{agent_name}} filled in.
 * @param {string} text
 * @param {{ customer_name: string, agent_name: string }} vars
 */
export function fillCanned(text, vars) {
  return text.replace(
    /\{\{\s*(customer_name|agent_name)\s*\}\}/g,
    (_, /** @type {"customer_name" | "agent_name"} */ name) => vars[name],
  );
}
