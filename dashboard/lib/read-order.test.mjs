import assert from "node:assert/strict";
import { test } from "node:test";
import { readOrder } from "./read-order.mjs";

test("an answer to an older read landing after a newer one is dropped", () => {
  const order = readOrder();
  const first = order.start(); // the first load, held up by the server
  const poll = order.start(); // a poll while an upload is processing
  assert.equal(order.accept(poll), true); // the poll lists the upload
  assert.equal(order.accept(first), false); // the older, empty list would take it back
  const next = order.start();
  assert.equal(order.accept(next), true);
});

test("answers in order are all shown, the same read twice too", () => {
  const order = readOrder();
  const a = order.start();
  assert.equal(order.accept(a), true);
  assert.equal(order.accept(a), true);
  const b = order.start();
  const c = order.start();
  assert.equal(order.accept(b), true);
  assert.equal(order.accept(c), true);
  assert.equal(order.accept(b), false);
});
