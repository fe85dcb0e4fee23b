"use client";

import { useMemo, useState } from "react";
import { api } from "@/lib/api";
import {
  DAYS,
  DAY_NAMES,
  addHoliday,
  addInterval,
  endFromInput,
  endInput,
  fromApi,
  hoursBody,
  hoursErrors,
  removeInterval,
  timeZones,
  validateHours,
} from "@/lib/business-hours.mjs";
import { useForm } from "@/lib/hooks/useForm";
import { useResource } from "@/lib/hooks/useResource";
import { optional } from "@/lib/settings-api";
import type { BusinessHours, Day, Interval } from "@/lib/settings-types";
import { cn } from "@/lib/cn";
import { Button, Card, CardBody, CardHeader, EmptyState, ErrorState, InlineError, Input, Select, Skeleton, Textarea, useToast } from "@/components/ui";

const PATH = "/api/business-hours"; // the responder's
const FIELDS = ["timezone", "weekly", "holidays", "auto_reply", "outside_hours"] as const;

async function loadHours(path: string): Promise<BusinessHours | null> {
  const found = await optional<BusinessHours>(path);
  return found ? fromApi(found) : null;
}

/** GET/PUT /api/business-hours. The form's rules are in lib/business-hours.mjs (unit-tested). */
export function BusinessHoursSection({ manager }: { manager: boolean }) {
  const toast = useToast();
  const { values: draft, set, setValues: setDraft, errors, setErrors, clearError: clear, general, submitting: saving, submit } =
    useForm<BusinessHours>(fromApi(null), FIELDS);
  // data null once loaded: the responder does not offer business hours (404).
  const { data: saved, setData: setSaved, error: loadError, loading, refresh: load } = useResource(PATH, {
    load: loadHours,
    onLoad: (found) => found && setDraft(found),
  });
  const [holiday, setHoliday] = useState("");

  const zones = useMemo(() => timeZones(draft.timezone), [draft.timezone]);
  const dirty = saved ? JSON.stringify(hoursBody(saved)) !== JSON.stringify(hoursBody(draft)) : false;

  function setDay(day: Day, intervals: Interval[]) {
    set("weekly", { ...draft.weekly, [day]: intervals });
    clear(`weekly.${day}`);
  }

  function add(day: Day) {
    const next = addInterval(draft.weekly[day]);
    if (next) setDay(day, next);
    else setErrors((all) => ({ ...all, [`weekly.${day}`]: "No room left in this day for another interval." }));
  }

  function addDate() {
    const result = addHoliday(draft.holidays, holiday);
    if ("error" in result) return setErrors((all) => ({ ...all, holidays: result.error }));
    set("holidays", result.holidays);
    setHoliday("");
  }

  const save = submit(
    async (values) => {
      const next = fromApi(await api<BusinessHours>(PATH, { method: "PUT", json: hoursBody(values) }));
      setSaved(next);
      setDraft(next);
      toast("Business hours saved");
    },
    {
      validate: validateHours,
      split: hoursErrors,
      onError: () => toast("The business hours were not saved", "error"),
    },
  );

  const disabled = !manager || saving;
  return (
    <Card>
      <CardHeader
        title="Business hours"
        description="Outside them, customers get your auto-reply once per closed period, and the AI answers or hands off as you choose."
      />
      {loadError ? (
        <ErrorState error={loadError} title="Could not load the business hours" onRetry={() => void load()} />
      ) : loading && !saved ? (
        <div className="p-4" aria-busy aria-label="Loading the business hours">
          <Skeleton className="h-5 w-2/3" />
        </div>
      ) : !saved ? (
        <EmptyState title="Business hours are not available yet" description="The AI service does not offer them on this installation." />
      ) : (
        <CardBody>
          <form onSubmit={save} noValidate aria-label="Business hours" className="flex flex-col gap-5">
            <Select
              label="Time zone"
              name="timezone"
              value={draft.timezone}
              disabled={disabled}
              onChange={(e) => set("timezone", e.target.value)}
              error={errors.timezone}
              className="sm:w-80"
            >
              {zones.map((zone) => (
                <option key={zone} value={zone}>
                  {zone.replace(/_/g, " ")}
                </option>
              ))}
            </Select>

            <fieldset>
              <legend className="mb-2 text-sm font-medium text-zinc-800">Weekly hours</legend>
              {errors.weekly && <p className="mb-2 text-sm text-red-600">{errors.weekly}</p>}
              <ul className="divide-y divide-zinc-100 rounded-lg border border-zinc-200">
                {DAYS.map((day) => {
                  const intervals = draft.weekly[day];
                  const error = errors[`weekly.${day}`];
                  return (
                    <li key={day} className="flex flex-col gap-2 px-3 py-2.5 sm:flex-row sm:items-start" data-testid={`hours-${day}`}>
                      <span className="w-28 shrink-0 pt-1.5 text-sm font-medium text-zinc-800">{DAY_NAMES[day]}</span>
                      <div className="flex min-w-0 flex-1 flex-col gap-2">
                        {intervals.length === 0 && <span className="pt-1.5 text-sm text-zinc-500">Closed</span>}
                        {intervals.map(([from, to], i) => (
                          <div key={i} className="flex flex-wrap items-center gap-2">
                            <input
                              type="time"
                              aria-label={`${DAY_NAMES[day]} opens (interval ${i + 1})`}
                              value={from}
                              disabled={disabled}
                              aria-invalid={error ? true : undefined}
                              onChange={(e) => setDay(day, intervals.map((x, j) => (j === i ? [e.target.value, x[1]] : x)))}
                              className="h-9 rounded-lg border border-zinc-300 px-2 text-sm aria-[invalid=true]:border-red-500"
                            />
                            <span className="text-sm text-zinc-500">to</span>
                            <input
                              type="time"
                              aria-label={`${DAY_NAMES[day]} closes (interval ${i + 1})`}
                              // Midnight (the API's 24:00) shows as 00:00: lib/business-hours.mjs.
                              value={endInput(to)}
                              disabled={disabled}
                              aria-invalid={error ? true : undefined}
                              onChange={(e) => setDay(day, intervals.map((x, j) => (j === i ? [x[0], endFromInput(e.target.value)] : x)))}
                              className="h-9 rounded-lg border border-zinc-300 px-2 text-sm aria-[invalid=true]:border-red-500"
                            />
                            {manager && (
                              <Button
                                size="sm"
                                variant="ghost"
                                disabled={saving}
                                onClick={() => setDay(day, removeInterval(intervals, i))}
                                aria-label={`Remove ${DAY_NAMES[day]} ${from}–${to}`}
                              >
                                Remove
                              </Button>
                            )}
                          </div>
                        ))}
                        {error && (
                          <p role="alert" className="text-sm text-red-600">
                            {error}
                          </p>
                        )}
                      </div>
                      {manager && (
                        <Button size="sm" variant="secondary" disabled={saving} onClick={() => add(day)} aria-label={`Add hours on ${DAY_NAMES[day]}`}>
                          Add hours
                        </Button>
                      )}
                    </li>
                  );
                })}
              </ul>
            </fieldset>

            <fieldset className="flex flex-col gap-2">
              <legend className="mb-1 text-sm font-medium text-zinc-800">Holidays (closed all day)</legend>
              <ul className="flex flex-wrap gap-1.5" aria-label="Holidays">
                {draft.holidays.length === 0 && <li className="text-sm text-zinc-500">None</li>}
                {draft.holidays.map((date) => (
                  <li key={date} className="inline-flex items-center gap-1 rounded-md bg-zinc-100 px-2 py-1 text-sm text-zinc-800">
                    {date}
                    {manager && (
                      <button
                        type="button"
                        aria-label={`Remove holiday ${date}`}
                        disabled={saving}
                        onClick={() => set("holidays", draft.holidays.filter((h) => h !== date))}
                        className="rounded px-1 text-zinc-500 hover:bg-zinc-200 hover:text-zinc-900"
                      >
                        ×
                      </button>
                    )}
                  </li>
                ))}
              </ul>
              {manager && (
                <div className="flex items-end gap-2">
                  <Input
                    label="Add a holiday"
                    type="date"
                    name="holiday"
                    value={holiday}
                    onChange={(e) => {
                      setHoliday(e.target.value);
                      clear("holidays");
                    }}
                    className="w-44"
                  />
                  <Button variant="secondary" onClick={addDate} disabled={saving}>
                    Add
                  </Button>
                </div>
              )}
              {errors.holidays && (
                <p role="alert" className="text-sm text-red-600">
                  {errors.holidays}
                </p>
              )}
            </fieldset>

            <Textarea
              label="Auto-reply outside business hours"
              name="auto_reply"
              rows={2}
              maxLength={4096}
              value={draft.auto_reply ?? ""}
              disabled={disabled}
              onChange={(e) => set("auto_reply", e.target.value)}
              error={errors.auto_reply}
              hint="Sent once per conversation per closed period. Leave empty for no auto-reply."
            />

            <div role="radiogroup" aria-label="Outside business hours, the AI" className="grid gap-2 sm:grid-cols-2">
              {(
                [
                  ["answer", "Keeps answering", "The AI replies as usual; people pick up when you open."],
                  ["handoff", "Hands off to the team", "Conversations wait in the inbox for a person."],
                ] as const
              ).map(([value, title, text]) => (
                <label
                  key={value}
                  className={cn(
                    "flex cursor-pointer gap-3 rounded-lg border p-3 focus-within:ring-2 focus-within:ring-emerald-600/30",
                    draft.outside_hours === value ? "border-emerald-600 bg-emerald-50/50" : "border-zinc-200 hover:bg-zinc-50",
                  )}
                >
                  <input
                    type="radio"
                    name="outside_hours"
                    value={value}
                    checked={draft.outside_hours === value}
                    disabled={disabled}
                    onChange={() => set("outside_hours", value)}
                    className="mt-1 accent-emerald-600"
                  />
                  <span>
                    <span className="block text-sm font-medium text-zinc-900">{title}</span>
                    <span className="block text-xs text-zinc-500">{text}</span>
                  </span>
                </label>
              ))}
            </div>
            {errors.outside_hours && <p className="text-sm text-red-600">{errors.outside_hours}</p>}

            <InlineError error={general} />
            {manager && (
              <div className="flex justify-end">
                <Button type="submit" loading={saving} disabled={!dirty}>
                  Save business hours
                </Button>
              </div>
            )}
          </form>
        </CardBody>
      )}
    </Card>
  );
}
