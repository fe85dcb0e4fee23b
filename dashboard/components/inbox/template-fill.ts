// Filling a WhatsApp template's placeholders and a canned reply's variables, as the backend
// checks them (services/ingest/ingest/templates.py): `{{1}}`, `{{2}}`… are positional (sent as a
// list), `{{first_name}}` named (sent as an object); a TEXT header has its own, a media header
// (IMAGE/VIDEO/DOCUMENT) takes an https link.

import type { Template, TemplateComponent, TemplateParameters } from "@/lib/inbox-types";

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;
const MEDIA = new Set(["IMAGE", "VIDEO", "DOCUMENT"]);

/** The distinct placeholders of a text, in order of first appearance. */
export function placeholders(text: string): string[] {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1]))];
}

function component(t: Template, kind: string): TemplateComponent | undefined {
  return t.components.find((c) => String(c.type ?? "").toUpperCase() === kind);
}

/** One input of the form: `key` is how a 422's detail names it (see fieldOfDetail). */
export type TemplateField = { key: string; label: string };

export type TemplateForm = {
  header: { kind: "text" | "media" | null; format: string | null; fields: TemplateField[]; text: string };
  body: { fields: TemplateField[]; text: string };
  footer: string | null;
};

function textFields(where: "body" | "header.text", text: string): TemplateField[] {
  const names = placeholders(text);
  if (names.every((n) => /^\d+$/.test(n))) {
    const count = names.length ? Math.max(...names.map(Number)) : 0;
    return Array.from({ length: count }, (_, i) => ({ key: `${where}.${i}`, label: `{{${i + 1}}}` }));
  }
  return names.map((n) => ({ key: `${where}.${n}`, label: `{{${n}}}` }));
}

export function templateForm(t: Template): TemplateForm {
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
    footer: (component(t, "FOOTER")?.text as string | undefined) ?? null,
  };
}

function values(fields: TemplateField[], given: Record<string, string>): string[] | Record<string, string> | undefined {
  if (fields.length === 0) return undefined;
  const positional = /\.\d+$/.test(fields[0].key);
  if (positional) return fields.map((f) => given[f.key] ?? "");
  return Object.fromEntries(fields.map((f) => [f.key.split(".").pop() as string, given[f.key] ?? ""]));
}

/** The send's `parameters` from the form's values (by field key). */
export function buildParameters(form: TemplateForm, given: Record<string, string>): TemplateParameters {
  const out: TemplateParameters = {};
  const body = values(form.body.fields, given);
  if (body) out.body = body;
  if (form.header.kind === "media") out.header = { link: given["header.link"] ?? "" };
  else if (form.header.kind === "text") {
    const text = values(form.header.fields, given);
    if (text) out.header = { text };
  }
  return out;
}

function fill(text: string, where: string, given: Record<string, string>): string {
  return text.replace(PLACEHOLDER, (whole, name: string) => {
    const key = /^\d+$/.test(name) ? `${where}.${Number(name) - 1}` : `${where}.${name}`;
    return given[key] ? given[key] : whole;
  });
}

/** What the customer will read (header, body, footer), placeholders not yet filled kept. */
export function preview(form: TemplateForm, given: Record<string, string>): string {
  const parts: string[] = [];
  if (form.header.kind === "media") parts.push(`[${(form.header.format ?? "media").toLowerCase()}]`);
  else if (form.header.text) parts.push(fill(form.header.text, "header.text", given));
  if (form.body.text) parts.push(fill(form.body.text, "body", given));
  if (form.footer) parts.push(form.footer);
  return parts.join("\n\n");
}

/** The field a 422's detail names ("parameters.body[0] is empty" → "body.0"), if any. */
export function fieldOfDetail(detail: string): string | null {
  const m = detail.match(/parameters\.(body|header\.text|header\.link|header)(?:\[(\d+)\]|\.([A-Za-z0-9_]+))?/);
  if (!m) return null;
  if (m[1] === "header.link") return "header.link";
  if (m[1] === "header") return m[3] === "link" ? "header.link" : null;
  if (m[2] !== undefined) return `${m[1]}.${m[2]}`;
  if (m[3] !== undefined) return `${m[1]}.${m[3]}`;
  return null;
}

/** A canned reply's text with {{customer_name}} and {{agent_name}} filled in. */
export function fillCanned(text: string, vars: { customer_name: string; agent_name: string }): string {
  return text.replace(/\{\{\s*(customer_name|agent_name)\s*\}\}/g, (_, name: "customer_name" | "agent_name") => vars[name]);
}
