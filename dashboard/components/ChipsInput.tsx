"use client";

/** A list of short strings edited as chips: Enter or comma adds, Backspace on empty removes. */
import { useId, useState, type KeyboardEvent } from "react";

interface Props {
  label: string;
  value: string[];
  onChange: (next: string[]) => void;
  placeholder?: string;
  error?: string;
  hint?: string;
  maxLength?: number;
  disabled?: boolean;
  id?: string;
}

export function ChipsInput({ label, value, onChange, placeholder, error, hint, maxLength = 60, disabled, id }: Props) {
  const autoId = useId();
  const inputId = id ?? autoId;
  const [draft, setDraft] = useState("");

  function add(raw: string) {
    const parts = raw
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean);
    const next = [...value];
    for (const part of parts) {
      if (!next.some((v) => v.toLowerCase() === part.toLowerCase())) next.push(part.slice(0, maxLength));
    }
    if (next.length !== value.length) onChange(next);
    setDraft("");
  }

  function onKeyDown(event: KeyboardEvent<HTMLInputElement>) {
    if (event.key === "Enter" || event.key === ",") {
      event.preventDefault();
      add(draft);
    } else if (event.key === "Backspace" && draft === "" && value.length > 0) {
      onChange(value.slice(0, -1));
    }
  }

  const describedBy = [error ? `${inputId}-error` : null, hint ? `${inputId}-hint` : null].filter(Boolean).join(" ");

  return (
    <div>
      <label htmlFor={inputId} className="mb-1 block text-sm font-medium text-zinc-800">
        {label}
      </label>
      <div
        className={`flex min-h-10 flex-wrap items-center gap-1.5 rounded-lg border bg-white px-2 py-1.5 focus-within:ring-2 focus-within:ring-emerald-500 ${
          error ? "border-red-500" : "border-zinc-300"
        }`}
      >
        <ul className="contents" aria-label={`${label}: ${value.length} items`}>
          {value.map((chip) => (
            <li
              key={chip}
              className="inline-flex items-center gap-1 rounded-md bg-zinc-100 py-0.5 pl-2 pr-1 text-sm text-zinc-800"
            >
              {chip}
              <button
                type="button"
                disabled={disabled}
                onClick={() => onChange(value.filter((v) => v !== chip))}
                className="rounded px-1 text-zinc-500 hover:bg-zinc-200 hover:text-zinc-900 focus:outline-none focus-visible:ring-2 focus-visible:ring-emerald-500"
                aria-label={`Remove ${chip}`}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
        <input
          id={inputId}
          value={draft}
          disabled={disabled}
          maxLength={maxLength}
          placeholder={value.length ? "" : placeholder}
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={onKeyDown}
          onBlur={() => draft.trim() && add(draft)}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy || undefined}
          className="min-w-[8rem] flex-1 border-0 bg-transparent px-1 py-0.5 text-sm outline-none"
        />
      </div>
      {hint && !error && (
        <p id={`${inputId}-hint`} className="mt-1 text-xs text-zinc-500">
          {hint}
        </p>
      )}
      {error && (
        <p id={`${inputId}-error`} role="alert" className="mt-1.5 text-sm text-red-600">
          {error}
        </p>
      )}
    </div>
  );
}
