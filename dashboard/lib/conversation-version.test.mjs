// Unit tests of the live-update rule (lib/conversation-version.mjs): `node --test lib/`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { applyFetched, applyLive, isNewer, recordIfNewer } from "./conversation-version.mjs";

const id = "c0000000-0000-4000-8000-000000000001";
const handoff = { id, version: 5, status: "handoff", unread_count: 2, labels: [{ id: "l1" }] };

test("a newer update applies, merged into what the screen holds", () => {
  const next = applyLive(handoff, { id, version: 6, status: "open", unread_count: 3 });
  assert.equal(next.status, "open");
  assert.equal(next.version, 6);
  assert.deepEqual(next.labels, [{ id: "l1" }], "fields the event lacks stay");
});

test("an older update is dropped: the reply's 'open' after the handoff that followed it", () => {
  const late = { id, version: 4, status: "open" };
  assert.equal(applyLive(handoff, late), handoff, "the same object: nothing to render");
});

test("the same version again is dropped: it says nothing new", () => {
  assert.equal(applyLive(handoff, { id, version: 5, status: "open" }), handoff);
  assert.equal(isNewer(handoff, { id, version: 5 }), false);
});

test("out of order arrival settles on the highest version", () => {
  const updates = [6, 8, 7].map((version) => ({ id, version, status: `v${version}` }));
  const shown = updates.reduce((held, u) => applyLive(held, u), handoff);
  assert.equal(shown.version, 8);
  assert.equal(shown.status, "v8");
});

test("nothing held yet: the update is the state", () => {
  assert.deepEqual(applyLive(null, { id, version: 1, status: "open" }), { id, version: 1, status: "open" });
  assert.equal(isNewer(undefined, { id, version: 1 }), true);
});

test("a state without a version cannot be ordered, so it applies", () => {
  assert.equal(applyLive(handoff, { id, status: "resolved" }).status, "resolved");
  assert.equal(isNewer({ id }, { id, version: 2 }), true);
});

test("a fetched state of the same version is taken (the member's own unread count)", () => {
  const fetched = { ...handoff, unread_count: 0 };
  assert.equal(applyFetched(handoff, fetched).unread_count, 0);
  assert.equal(applyFetched(handoff, { ...handoff, version: 4 }), handoff, "an older one is not");
  assert.equal(applyFetched(handoff, { ...handoff, version: 6, status: "open" }).status, "open");
});

test("another conversation's state is not compared", () => {
  assert.equal(isNewer(handoff, { id: "other", version: 1 }), true);
});

test("a list remembers versions of what its filter dropped", () => {
  const seen = new Map();
  assert.equal(recordIfNewer(seen, { id, version: 6 }), true, "the 'open' that left the handoff filter");
  assert.equal(recordIfNewer(seen, { id, version: 5 }), false, "the late handoff does not bring it back");
  assert.equal(recordIfNewer(seen, { id, version: 6 }), false);
  assert.equal(recordIfNewer(seen, { id, version: 6 }, { orSame: true }), true, "a fetch of it does");
  assert.equal(recordIfNewer(seen, { id, version: 7 }), true);
  assert.equal(seen.get(id), 7);
});
