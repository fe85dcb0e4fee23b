import assert from "node:assert/strict";
import test from "node:test";
import { CONTENT_SECURITY_POLICY, securityHeaders } from "./security-headers.mjs";

test("no other site may frame the dashboard, and pages load only from its origin", () => {
  const directives = Object.fromEntries(
    CONTENT_SECURITY_POLICY.split("; ").map((d) => [d.split(" ")[0], d.split(" ").slice(1)]),
  );
  assert.deepEqual(directives["frame-ancestors"], ["'none'"]);
  assert.deepEqual(directives["object-src"], ["'none'"]);
  assert.deepEqual(directives["connect-src"], ["'self'"]);
  for (const sources of Object.values(directives)) {
    assert.ok(!sources.includes("*"), "no wildcard source");
    assert.ok(!sources.includes("'unsafe-eval'"), "no eval");
  }
});

test("the page headers skip /api (the services' own headers answer there); HSTS only over HTTPS", () => {
  const rules = securityHeaders();
  const pages = new RegExp(`^${rules[0].source}$`);
  assert.ok(pages.test("/inbox") && pages.test("/login") && pages.test("/"));
  assert.ok(!pages.test("/api/messages/1/media"));
  const hsts = rules.find((r) => r.headers.some((h) => h.key === "Strict-Transport-Security"));
  assert.deepEqual(hsts?.has, [{ type: "header", key: "x-forwarded-proto", value: "https" }]);
  assert.ok(!rules[0].headers.some((h) => h.key === "Strict-Transport-Security"));
});
