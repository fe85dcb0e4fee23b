import assert from "node:assert/strict";
import { test } from "node:test";
import { keepAdded } from "./lists.mjs";

const ids = (list) => list.map((x) => x.id);

test("an item added while the list was read stays, first; one listed now is not doubled", () => {
  const current = [{ id: "new" }, { id: "a" }, { id: "gone" }];
  const fresh = [{ id: "a" }, { id: "b" }];
  assert.deepEqual(ids(keepAdded(current, fresh, new Set(["new"]))), ["new", "a", "b"]);
  assert.deepEqual(ids(keepAdded(current, fresh, new Set(["a"]))), ["a", "b"]);
  assert.deepEqual(ids(keepAdded(null, fresh, new Set(["new"]))), ["a", "b"]);
});

test("with an order, a kept item lands where the order puts it (a live reply in a thread)", () => {
  const byN = (x, y) => x.n - y.n;
  const fresh = [{ id: "q1", n: 1 }, { id: "q3", n: 3 }];
  const current = [{ id: "r2", n: 2 }, { id: "r9", n: 9 }, { id: "r0", n: 0 }];
  const merged = keepAdded(current, fresh, new Set(["r2", "r9", "r0"]), byN);
  assert.deepEqual(ids(merged), ["r0", "q1", "r2", "q3", "r9"]);
});
