// Unit tests of the business-hours and CSAT forms' logic (issue 14): `node --test lib/`.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  DAYS,
  addHoliday,
  addInterval,
  approvedTemplateNames,
  csatBody,
  csatByAgent,
  endFromInput,
  endInput,
  formatPercent,
  fromApi,
  hoursBody,
  hoursErrors,
  intervalError,
  removeInterval,
  timeZones,
  validateHours,
} from "./business-hours.mjs";

test("the API's hours become a full week; missing days are closed", () => {
  const draft = fromApi({
    timezone: "Europe/Lisbon",
    weekly: { mon: [["09:00", "17:30"]], sat: [["10:00", "13:00"], ["14:00", "16:00"]] },
    holidays: ["2026-12-25", "2026-01-01"],
    auto_reply: null,
    outside_hours: "handoff",
  });
  assert.deepEqual(Object.keys(draft.weekly), DAYS);
  assert.deepEqual(draft.weekly.mon, [["09:00", "17:30"]]);
  assert.deepEqual(draft.weekly.sun, []);
  assert.equal(draft.weekly.sat.length, 2);
  assert.deepEqual(draft.holidays, ["2026-01-01", "2026-12-25"]);
  assert.equal(draft.auto_reply, "", "no auto-reply is edited as empty text");
  assert.equal(draft.outside_hours, "handoff");
  const none = fromApi(null);
  assert.equal(none.timezone, "UTC");
  assert.equal(none.outside_hours, "answer");
  assert.ok(DAYS.every((d) => none.weekly[d].length === 0));
});

test("adding intervals: 09:00–17:00 first, then after the last, never past the day", () => {
  assert.deepEqual(addInterval([]), [["09:00", "17:00"]]);
  assert.deepEqual(addInterval([["09:00", "12:00"]]), [["09:00", "12:00"], ["13:00", "14:00"]]);
  assert.deepEqual(addInterval([["09:00", "22:30"]])?.[1], ["23:00", "23:59"]);
  assert.equal(addInterval([["09:00", "23:00"]]), null, "a day that ends at 23:00 has no room");
  assert.deepEqual(removeInterval([["09:00", "12:00"], ["13:00", "17:00"]], 0), [["13:00", "17:00"]]);
  assert.deepEqual(removeInterval([["09:00", "12:00"]], 0), [], "a closed day is an empty list");
});

test("midnight: the responder's 00:00–24:00 day is valid, shown and edited as 00:00", () => {
  // A new business's hours as the responder sends them: every day 00:00–24:00.
  const fresh = fromApi({ timezone: "UTC", weekly: { mon: [["00:00", "24:00"]], tue: [["20:00", "24:00"]] } });
  assert.deepEqual(validateHours(fresh), {}, "the API's own default saves as it is");
  assert.equal(intervalError([["00:00", "24:00"]]), null);
  assert.match(intervalError([["24:00", "24:00"]]) ?? "", /24-hour times/, "24:00 only ends a day");
  assert.equal(addInterval([["09:00", "24:00"]]), null, "a day open until midnight has no room");
  assert.deepEqual(hoursBody(fresh).weekly.tue, [["20:00", "24:00"]]);
  // <input type="time"> has no 24:00: it shows 00:00, and 00:00 typed as an end is midnight.
  assert.equal(endInput("24:00"), "00:00");
  assert.equal(endInput("17:30"), "17:30");
  assert.equal(endFromInput("00:00"), "24:00");
  assert.equal(endFromInput("17:30"), "17:30");
});

test("intervals: bad times, reversed and overlapping ones are named", () => {
  assert.equal(intervalError([]), null);
  assert.equal(intervalError([["09:00", "12:00"], ["13:00", "17:30"]]), null);
  assert.match(intervalError([["9:00", "12:00"]]) ?? "", /24-hour times/);
  assert.match(intervalError([["24:00", "25:00"]]) ?? "", /24-hour times/);
  assert.match(intervalError([["12:00", "09:00"]]) ?? "", /12:00–09:00: the start must be before the end/);
  assert.match(intervalError([["10:00", "10:00"]]) ?? "", /start must be before/);
  assert.match(
    intervalError([["13:00", "17:00"], ["09:00", "13:30"]]) ?? "",
    /09:00–13:30 and 13:00–17:00 overlap/,
  );
  assert.equal(intervalError([["09:00", "13:00"], ["13:00", "17:00"]]), null, "touching is fine");
  const draft = fromApi({ weekly: { tue: [["18:00", "08:00"]] } });
  assert.deepEqual(Object.keys(validateHours(draft)), ["weekly.tue"]);
  assert.deepEqual(validateHours({ ...draft, timezone: "", weekly: fromApi(null).weekly }), {
    timezone: "Choose a time zone.",
  });
});

test("holidays are real dates, once each, in order", () => {
  assert.deepEqual(addHoliday(["2026-12-25"], "2026-01-01"), { holidays: ["2026-01-01", "2026-12-25"] });
  const twice = addHoliday(["2026-12-25"], "2026-12-25");
  assert.ok("error" in twice && /already a holiday/.test(twice.error));
  assert.ok("error" in addHoliday([], ""));
  assert.ok("error" in addHoliday([], "2026-02-30"), "30 February is refused");
  assert.ok("error" in addHoliday([], "25/12/2026"));
});

test("the PUT body: sorted intervals, an empty auto-reply is null", () => {
  const draft = fromApi({ weekly: { mon: [["14:00", "18:00"], ["09:00", "12:00"]] }, holidays: [] });
  const body = hoursBody({ ...draft, auto_reply: "   " });
  assert.deepEqual(body.weekly.mon, [["09:00", "12:00"], ["14:00", "18:00"]]);
  assert.equal(body.auto_reply, null);
  assert.deepEqual(Object.keys(body).sort(), ["auto_reply", "holidays", "outside_hours", "timezone", "weekly"]);
  assert.equal(hoursBody({ ...draft, auto_reply: " We are closed. " }).auto_reply, "We are closed.");
});

test("a 422 lands on its day or field; the rest is a general message", () => {
  const { fields, general } = hoursErrors([
    { loc: ["body", "weekly", "wed", 0, 1], msg: "Value error, invalid time '25:00'" },
    { loc: ["body", "timezone"], msg: "unknown time zone 'Mars/Base'" },
    { loc: ["body", "holidays", 2], msg: "invalid date" },
    { loc: ["body", "weekly", "funday"], msg: "Extra inputs are not permitted" },
    { loc: ["body", "colour"], msg: "Extra inputs are not permitted" },
  ]);
  assert.deepEqual(fields, {
    "weekly.wed": "invalid time '25:00'",
    timezone: "unknown time zone 'Mars/Base'",
    holidays: "invalid date",
    weekly: "Extra inputs are not permitted",
  });
  assert.equal(general, "colour: Extra inputs are not permitted");
  assert.deepEqual(hoursErrors("timezone: unknown time zone").fields, { timezone: "unknown time zone" });
  assert.deepEqual(hoursErrors("weekly.mon: intervals overlap").fields, { "weekly.mon": "intervals overlap" });
  assert.equal(hoursErrors("the service is restarting").general, "the service is restarting");
});

test("time zones: the browser's list, UTC first, the saved one always there", () => {
  const zones = timeZones("Mars/Olympus_Mons");
  assert.equal(zones[0], "UTC");
  assert.ok(zones.includes("Europe/Lisbon") && zones.includes("America/Sao_Paulo"));
  assert.ok(zones.includes("Mars/Olympus_Mons"));
  assert.equal(new Set(zones).size, zones.length);
});

test("CSAT: approved template names once each; a question is needed when enabled", () => {
  const names = approvedTemplateNames([
    { name: "rate_us", status: "APPROVED" },
    { name: "rate_us", status: "APPROVED" }, // another channel's, or another language
    { name: "draft_one", status: "PENDING" },
    { name: "feedback", status: "APPROVED" },
    { name: "old", status: "REJECTED" },
  ]);
  assert.deepEqual(names, ["feedback", "rate_us"]);
  assert.deepEqual(csatBody({ enabled: true, question: "  ", template_name: "" }).errors, {
    question: "Write the question customers are asked.",
  });
  assert.deepEqual(csatBody({ enabled: false, question: "", template_name: "" }), {
    body: { enabled: false, question: "", template_name: null },
    errors: {},
  });
  assert.deepEqual(csatBody({ enabled: true, question: " How did we do? ", template_name: "rate_us" }).body, {
    enabled: true,
    question: "How did we do?",
    template_name: "rate_us",
  });
});

test("CSAT figures: a dash without data, agents named from the team", () => {
  assert.equal(formatPercent(null), "—");
  assert.equal(formatPercent(undefined), "—");
  assert.equal(formatPercent(Number.NaN), "—");
  assert.equal(formatPercent(87.5), "88%");
  assert.equal(formatPercent(0), "0%");
  const rows = csatByAgent(
    [
      { agent_id: "a", responses: 2, percent: 50 },
      { agent_id: "gone", responses: 1, percent: null },
      { agent_id: "b", responses: 5, percent: 100 },
    ],
    [
      { id: "a", name: "Ana" },
      { id: "b", name: "Bruno" },
    ],
  );
  assert.deepEqual(
    rows.map((r) => [r.name, r.responses, r.percent]),
    [
      ["Bruno", 5, "100%"],
      ["Ana", 2, "50%"],
      ["Former member", 1, "—"],
    ],
  );
});
