import assert from "node:assert/strict";
import { test } from "node:test";
import { mayRenewOn } from "./renewal.mjs";

const headers = (entries = {}) => new Headers(entries);

test("a page load or a page navigation may renew the session", () => {
  assert.equal(mayRenewOn("/inbox", headers({ "sec-fetch-mode": "navigate" })), true);
  assert.equal(mayRenewOn("/inbox", headers({ rsc: "1" })), true);
});

test("an API call never renews it: one in flight at logout would sign the browser back in", () => {
  assert.equal(mayRenewOn("/api/conversations", headers()), false);
  assert.equal(mayRenewOn("/api/auth/me", headers({ "sec-fetch-mode": "cors" })), false);
});

test("a prefetch never renews it", () => {
  assert.equal(mayRenewOn("/analytics", headers({ rsc: "1", "next-router-prefetch": "1" })), false);
  assert.equal(mayRenewOn("/analytics", headers({ purpose: "prefetch" })), false);
});
