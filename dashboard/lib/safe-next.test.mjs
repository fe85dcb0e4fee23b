// Unit test of the sign-in redirect (issue 12, finding 10): `npm test`, or `node --test lib/`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { safeNext } from "./safe-next.mjs";

test("paths on this site are followed, query and fragment kept", () => {
  assert.equal(safeNext("/inbox"), "/inbox");
  assert.equal(safeNext("/conversations/42?tab=notes#last"), "/conversations/42?tab=notes#last");
  assert.equal(safeNext("/knowledge/a%2Fb"), "/knowledge/a%2Fb");
  assert.equal(safeNext("/inbox/../ai"), "/ai");
});

test("anything that could leave the site is refused", () => {
  const leaving = [
    "/\\evil.example",
    "/\\/evil.example",
    "\\\\evil.example",
    "//evil.example",
    "///evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "/.//evil.example",
    "https://evil.example",
    "javascript:alert(1)",
    " /inbox",
    "evil.example",
    "",
    null,
    undefined,
  ];
  for (const value of leaving) assert.equal(safeNext(value), null, JSON.stringify(value));
});

test("what is followed resolves to this origin in a real URL parser", () => {
  const tricky = ["/\\evil.example", "/\t/evil.example", "/.//evil.example", "/a", "/a?b=//c"];
  for (const value of tricky) {
    const target = safeNext(value);
    if (target !== null) {
      assert.equal(new URL(target, "https://app.example").origin, "https://app.example", value);
    }
  }
});
