// Unit tests of the thread's order (lib/message-order.mjs): `node --test lib/`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { compareMessages, epochMicros, upsertMessage } from "./message-order.mjs";

// What the API and the SSE stream send: an inbound message at Meta's whole second (pydantic
// writes no fraction then), the AI's reply 0.4 s later with microseconds.
const question = { id: "f0000000-0000-4000-8000-000000000001", created_at: "2026-12-04T10:00:05Z", direction: "inbound" };
const answer = { id: "00000000-0000-4000-8000-000000000002", created_at: "2026-12-04T10:00:05.412000Z", direction: "outbound" };

test("a reply within the same second as the question comes after it", () => {
  // Live, the second agent's thread has the question and then gets the answer (or any later
  // event re-sorts the list): the answer must stay below the question.
  const thread = upsertMessage([question], answer);
  assert.deepEqual(thread.map((m) => m.id), [question.id, answer.id]);
  // And in whichever order the two arrive.
  assert.deepEqual(upsertMessage([answer], question).map((m) => m.id), [question.id, answer.id]);
});

test("the string order was the bug: '.' sorts before 'Z'", () => {
  assert.ok(answer.created_at < question.created_at, "as strings the answer looks older");
  assert.equal(compareMessages(question, answer), -1);
  assert.equal(compareMessages(answer, question), 1);
});

test("microseconds count: two replies within one millisecond keep their order", () => {
  const a = { id: "b", created_at: "2026-12-04T10:00:05.412001Z" };
  const b = { id: "a", created_at: "2026-12-04T10:00:05.412002Z" };
  assert.equal(compareMessages(a, b), -1);
  assert.equal(epochMicros(b.created_at) - epochMicros(a.created_at), 1);
});

test("same instant: the id breaks the tie, as the API's ORDER BY created_at, id", () => {
  const a = { id: "00000000-0000-4000-8000-00000000000a", created_at: "2026-12-04T10:00:05Z" };
  const b = { id: "00000000-0000-4000-8000-00000000000b", created_at: "2026-12-04T10:00:05.000000Z" };
  assert.equal(compareMessages(a, b), -1);
  assert.equal(compareMessages(b, a), 1);
  assert.equal(compareMessages(a, a), 0);
});

test("offsets are instants, not text", () => {
  assert.equal(epochMicros("2026-12-04T11:00:05+01:00"), epochMicros("2026-12-04T10:00:05Z"));
  assert.equal(compareMessages({ id: "z", created_at: "2026-12-04T10:30:00+01:00" }, { id: "a", created_at: "2026-12-04T10:00:00Z" }), -1);
  assert.ok(Number.isNaN(epochMicros("yesterday")));
});

test("a known message is merged in place, not duplicated", () => {
  const thread = upsertMessage([question, answer], { ...answer, status: "sent" });
  assert.equal(thread.length, 2);
  assert.equal(thread[1].status, "sent");
});
