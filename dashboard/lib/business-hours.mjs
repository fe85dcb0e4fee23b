// @ts-check
// The business-hours and CSAT forms' logic (issue 14), in plain JavaScript checked by tsc
// through JSDoc, so `node --test lib/` tests it with no build (see safe-next.mjs).
// Contract (responder): GET/PUT /api/business-hours →
//   {timezone, weekly: {mon: [["09:00","17:30"]], …, sun: […]}, holidays: ["YYYY-MM-DD"],
//    auto_reply: string|null, outside_hours: "answer"|"handoff"}
// and GET/PUT /api/csat → {enabled, question, template_name: string|null}.

/** @typedef {"mon"|"tue"|"wed"|"thu"|"fri"|"sat"|"sun"} Day */
/** @typedef {[string, string]} Interval "HH:MM" from (inclusive) to (exclusive) */
/**
 * @typedef {{
 *   timezone: string,
 *   weekly: Record<Day, Interval[]>,
 *   holidays: string[],
 *   auto_reply: string | null,
 *   outside_hours: "answer" | "handoff",
 * }} BusinessHours
 */
/** @typedef {{ enabled: boolean, question: string, template_name: string | null }} Csat */

/** @type {Day[]} */
export const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/** @type {Record<Day, string>} */
export const DAY_NAMES = {
  mon: "Monday",
  tue: "Tuesday",
  wed: "Wednesday",
  thu: "Thursday",
  fri: "Friday",
  sat: "Saturday",
  sun: "Sunday",
};

const TIME = /^([01]\d|2[0-3]):[0-5]\d$/;
// An interval may END at "24:00" (the responder's midnight, its default day is
// 00:00–24:00); it may not start there.
const END = /^(([01]\d|2[0-3]):[0-5]\d|24:00)$/;
export const MIDNIGHT_END = "24:00";
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** @param {string} t "HH:MM" @returns {number} minutes since midnight */
function minutes(t) {
  return Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5));
}

/** @param {number} m @returns {string} */
function hhmm(m) {
  return `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
}

/**
 * The API's answer as a complete form: every day present (a missing day is closed), the
 * auto-reply as editable text.
 * @param {Partial<BusinessHours> | null | undefined} value
 * @returns {BusinessHours}
 */
export function fromApi(value) {
  /** @type {Record<Day, Interval[]>} */
  const weekly = /** @type {any} */ ({});
  for (const day of DAYS) {
    const given = value?.weekly?.[day];
    weekly[day] = Array.isArray(given) ? given.map(([from, to]) => [String(from), String(to)]) : [];
  }
  return {
    timezone: value?.timezone || "UTC",
    weekly,
    holidays: [...(value?.holidays ?? [])].sort(),
    auto_reply: value?.auto_reply ?? "",
    outside_hours: value?.outside_hours === "handoff" ? "handoff" : "answer",
  };
}

/**
 * One more interval for a day: the first is 09:00–17:00; a next one starts an hour after the
 * last one ends and lasts an hour, clipped to the day. Null when the day is full (no room).
 * @param {Interval[]} intervals
 * @returns {Interval[] | null}
 */
export function addInterval(intervals) {
  if (intervals.length === 0) return [["09:00", "17:00"]];
  const ends = intervals.filter(([, to]) => END.test(to)).map(([, to]) => minutes(to));
  const last = ends.length ? Math.max(...ends) : minutes("17:00");
  const start = Math.min(last + 60, 23 * 60);
  const end = Math.min(start + 60, 23 * 60 + 59);
  if (start <= last || end <= start) return null;
  return [...intervals, [hhmm(start), hhmm(end)]];
}

/**
 * @param {Interval[]} intervals
 * @param {number} index
 * @returns {Interval[]}
 */
export function removeInterval(intervals, index) {
  return intervals.filter((_, i) => i !== index);
}

/**
 * What a "closes" <input type="time"> shows for an interval's end. Browsers have no 24:00
 * (they blank the field), so midnight at the end of the day shows as 00:00.
 * @param {string} to
 * @returns {string}
 */
export function endInput(to) {
  return to === MIDNIGHT_END ? "00:00" : to;
}

/**
 * An interval's end from its "closes" input: 00:00 can only end a day (an interval starts
 * before it ends), so it is the responder's 24:00.
 * @param {string} value
 * @returns {string}
 */
export function endFromInput(value) {
  return value === "00:00" ? MIDNIGHT_END : value;
}

/**
 * What is wrong with one day's intervals, or null: each "HH:MM" (00:00–23:59), its start
 * before its end, none overlapping another.
 * @param {Interval[]} intervals
 * @returns {string | null}
 */
export function intervalError(intervals) {
  for (const [from, to] of intervals) {
    if (!TIME.test(from) || !END.test(to)) return "Use 24-hour times like 09:00.";
    if (minutes(from) >= minutes(to)) return `${from}–${to}: the start must be before the end.`;
  }
  const sorted = [...intervals].sort((a, b) => minutes(a[0]) - minutes(b[0]));
  for (let i = 1; i < sorted.length; i++) {
    if (minutes(sorted[i][0]) < minutes(sorted[i - 1][1])) {
      return `${sorted[i - 1][0]}–${sorted[i - 1][1]} and ${sorted[i][0]}–${sorted[i][1]} overlap.`;
    }
  }
  return null;
}

/**
 * The holidays with `date` added (sorted, no duplicates), or an error message.
 * @param {string[]} holidays
 * @param {string} date "YYYY-MM-DD" (what <input type="date"> gives)
 * @returns {{ holidays: string[] } | { error: string }}
 */
export function addHoliday(holidays, date) {
  if (!DATE.test(date) || Number.isNaN(Date.parse(`${date}T00:00:00Z`))) {
    return { error: "Pick a date." };
  }
  if (new Date(`${date}T00:00:00Z`).toISOString().slice(0, 10) !== date) {
    return { error: `${date} is not a date.` };
  }
  if (holidays.includes(date)) return { error: `${date} is already a holiday.` };
  return { holidays: [...holidays, date].sort() };
}

/**
 * Field errors found before asking the API (keys: `timezone`, `weekly.<day>`).
 * @param {BusinessHours} draft
 * @returns {Record<string, string>}
 */
export function validateHours(draft) {
  /** @type {Record<string, string>} */
  const errors = {};
  if (!draft.timezone) errors.timezone = "Choose a time zone.";
  for (const day of DAYS) {
    const message = intervalError(draft.weekly[day]);
    if (message) errors[`weekly.${day}`] = message;
  }
  return errors;
}

/**
 * The PUT body: intervals in order, an empty auto-reply as null (no auto-reply).
 * @param {BusinessHours} draft
 * @returns {BusinessHours}
 */
export function hoursBody(draft) {
  /** @type {Record<Day, Interval[]>} */
  const weekly = /** @type {any} */ ({});
  for (const day of DAYS) {
    weekly[day] = [...draft.weekly[day]].sort((a, b) => a[0].localeCompare(b[0]));
  }
  const reply = (draft.auto_reply ?? "").trim();
  return {
    timezone: draft.timezone,
    weekly,
    holidays: [...draft.holidays].sort(),
    auto_reply: reply ? reply : null,
    outside_hours: draft.outside_hours,
  };
}

/**
 * A 422's `detail` (FastAPI's `[{loc, msg}]` or a "field: message" string) as form errors,
 * keyed like `validateHours`: `weekly.mon` for anything inside Monday, `holidays`, `auto_reply`…
 * @param {unknown} detail
 * @returns {{ fields: Record<string, string>, general: string | null }}
 */
export function hoursErrors(detail) {
  /** @type {Record<string, string>} */
  const fields = {};
  /** @type {string[]} */
  const general = [];
  const known = ["timezone", "weekly", "holidays", "auto_reply", "outside_hours"];
  if (typeof detail === "string") {
    const m = /^([a-z_]+)(?:\.([a-z]{3}))?: ([\s\S]+)$/.exec(detail);
    if (m && known.includes(m[1])) fields[m[2] ? `${m[1]}.${m[2]}` : m[1]] = m[3];
    else general.push(detail);
  } else if (Array.isArray(detail)) {
    for (const item of detail) {
      if (!item || typeof item !== "object" || !("msg" in item)) continue;
      const loc = Array.isArray(item.loc) ? item.loc.slice(item.loc[0] === "body" ? 1 : 0) : [];
      const msg = String(item.msg).replace(/^Value error, /, "");
      const [field, day] = loc;
      if (typeof field !== "string" || !known.includes(field)) {
        general.push(loc.length ? `${loc.join(".")}: ${msg}` : msg);
        continue;
      }
      const key = field === "weekly" && DAYS.includes(day) ? `weekly.${day}` : field;
      if (!fields[key]) fields[key] = msg;
    }
  } else if (detail != null) {
    general.push(String(detail));
  }
  return { fields, general: general.length ? general.join("; ") : null };
}

/**
 * Every IANA time zone the browser knows, with `current` kept even if it does not know it.
 * @param {string} current
 * @returns {string[]}
 */
export function timeZones(current) {
  /** @type {string[]} */
  let zones = [];
  try {
    zones = /** @type {any} */ (Intl).supportedValuesOf("timeZone");
  } catch {
    zones = [];
  }
  const all = new Set(["UTC", ...zones]);
  if (current) all.add(current);
  return [...all].sort((a, b) => (a === "UTC" ? -1 : b === "UTC" ? 1 : a.localeCompare(b)));
}

// --- CSAT -------------------------------------------------------------------------------

/**
 * The names the CSAT template may take: the APPROVED templates of the live channels, each
 * name once (the responder picks the language per channel), sorted.
 * @param {{ name: string, status: string }[]} templates
 * @returns {string[]}
 */
export function approvedTemplateNames(templates) {
  const names = new Set(templates.filter((t) => t.status === "APPROVED").map((t) => t.name));
  return [...names].sort();
}

/**
 * The PUT body and what is wrong with it first: a rating request needs a question.
 * @param {Csat} draft
 * @returns {{ body: Csat, errors: Record<string, string> }}
 */
export function csatBody(draft) {
  const question = draft.question.trim();
  /** @type {Record<string, string>} */
  const errors = {};
  if (draft.enabled && !question) errors.question = "Write the question customers are asked.";
  return {
    body: { enabled: draft.enabled, question, template_name: draft.template_name || null },
    errors,
  };
}

/**
 * A CSAT percentage for display: a dash when there is none (no answers, or no route yet).
 * @param {number | null | undefined} percent
 * @returns {string}
 */
export function formatPercent(percent) {
  if (percent == null || !Number.isFinite(percent)) return "—";
  return `${Math.round(percent)}%`;
}

/**
 * The per-agent rows of `GET /api/analytics/csat`, named from the team list (a removed
 * member is "Former member"), most answers first.
 * @param {{ agent_id: string, responses: number, percent: number | null }[]} byAgent
 * @param {{ id: string, name: string }[]} members
 * @returns {{ agent_id: string, name: string, responses: number, percent: string }[]}
 */
export function csatByAgent(byAgent, members) {
  const names = new Map(members.map((m) => [m.id, m.name]));
  return [...byAgent]
    .sort((a, b) => b.responses - a.responses)
    .map((row) => ({
      agent_id: row.agent_id,
      name: names.get(row.agent_id) ?? "Former member",
      responses: row.responses,
      percent: formatPercent(row.percent),
    }));
}
