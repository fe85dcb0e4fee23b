import assert from "node:assert/strict";
import { test } from "node:test";
import { buildParameters, fieldOfDetail, fillCanned, placeholders, preview, templateForm } from "./template-fill.mjs";

const template = (components) => ({ id: "t", name: "n", language: "en_US", status: "APPROVED", category: null, components });

test("positional body placeholders become a list, in order, one field per number", () => {
  const form = templateForm(template([{ type: "BODY", text: "Hi {{1}}, order {{2}} ({{1}})" }]));
  assert.deepEqual(form.body.fields.map((f) => f.key), ["body.0", "body.1"]);
  assert.deepEqual(form.body.fields.map((f) => f.label), ["{{1}}", "{{2}}"]);
  assert.deepEqual(buildParameters(form, { "body.0": "Ana", "body.1": "#7" }), { body: ["Ana", "#7"] });
  assert.equal(preview(form, { "body.0": "Ana" }), "Hi Ana, order {{2}} (Ana)");
});

test("named placeholders become an object", () => {
  const form = templateForm(template([{ type: "BODY", text: "Hello {{first_name}}, see {{ link }}" }]));
  assert.deepEqual(placeholders(form.body.text), ["first_name", "link"]);
  assert.deepEqual(buildParameters(form, { "body.first_name": "Rui" }), { body: { first_name: "Rui", link: "" } });
});

test("a text header has its own parameters; a media header takes a link; the footer is previewed", () => {
  const text = templateForm(
    template([
      { type: "HEADER", format: "TEXT", text: "Order {{1}}" },
      { type: "BODY", text: "Ready." },
      { type: "FOOTER", text: "Lumen Bikes" },
    ]),
  );
  assert.deepEqual(text.header.fields.map((f) => f.key), ["header.text.0"]);
  assert.deepEqual(buildParameters(text, { "header.text.0": "#9" }), { header: { text: ["#9"] } });
  assert.equal(preview(text, { "header.text.0": "#9" }), "Order #9\n\nReady.\n\nLumen Bikes");
  const media = templateForm(template([{ type: "HEADER", format: "IMAGE" }, { type: "BODY", text: "Look" }]));
  assert.equal(media.header.kind, "media");
  assert.deepEqual(buildParameters(media, { "header.link": "https://x.example/a.png" }), { header: { link: "https://x.example/a.png" } });
  assert.equal(preview(media, {}), "[image]\n\nLook");
});

test("a template without placeholders sends no parameters", () => {
  assert.deepEqual(buildParameters(templateForm(template([{ type: "BODY", text: "Hi" }])), {}), {});
});

test("the 422's detail names the field it is about", () => {
  assert.equal(fieldOfDetail("parameters.body[1] is empty"), "body.1");
  assert.equal(fieldOfDetail("parameters.body[2] ({{3}}) is missing; the template takes 3 parameters, got 2"), "body.2");
  assert.equal(fieldOfDetail("parameters.body.first_name is missing"), "body.first_name");
  assert.equal(fieldOfDetail("parameters.header.text[0] is empty"), "header.text.0");
  assert.equal(fieldOfDetail("parameters.header.link is missing: the template's header is an IMAGE"), "header.link");
  assert.equal(fieldOfDetail("template.parameters.body.1: String should have at least 1 character"), "body.1");
  assert.equal(fieldOfDetail("parameters.body: the template takes 2 parameters, got 3"), null);
  assert.equal(fieldOfDetail("no template 'x' on this channel"), null);
});

test("a canned reply's variables are filled; other braces are left alone", () => {
  assert.equal(
    fillCanned("Hi {{customer_name}}, {{ agent_name }} here. {{order}}", { customer_name: "Sofia", agent_name: "Olga" }),
    "Hi Sofia, Olga here. {{order}}",
  );
});
