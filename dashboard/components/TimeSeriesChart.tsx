"use client";

/**
 * A small dependency-free SVG chart for per-day figures: lines or grouped bars, a y axis with
 * round ticks, a legend, and a tooltip that follows the pointer or the arrow keys. A hidden
 * table carries the same numbers for screen readers.
 */
import { useId, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";

export interface Series<Row> {
  key: keyof Row & string;
  label: string;
  color: string;
}

/** `date` is YYYY-MM-DD (the x axis); `label`, when given, names the row in the tooltip. */
interface Props<Row extends { date: string; label?: string }> {
  title: string;
  rows: Row[];
  series: Series<Row>[];
  kind?: "line" | "bar";
  height?: number;
  format?: (value: number) => string;
  /** The values are counts: ticks at whole numbers only. */
  integers?: boolean;
}

const PAD = { top: 12, right: 12, bottom: 26, left: 48 };

/** 0 and 4-ish round steps up to at least `max`. */
export function niceTicks(max: number, count = 4, integers = false): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const nice = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  // Counts get whole steps: "1.5 messages" is not a tick anyone needs.
  const step = integers ? Math.max(1, Math.ceil(nice)) : nice;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function shortDate(iso: string): string {
  const [, month, day] = iso.split("-");
  return `${day}/${month}`;
}

/** The row's number for a series, or null when the day has none (a gap, not a zero). */
function value<Row>(row: Row, key: keyof Row): number | null {
  const v = row[key];
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** Runs of consecutive points that have a value: each becomes one polyline. */
function segments(values: (number | null)[]): { i: number; v: number }[][] {
  const runs: { i: number; v: number }[][] = [];
  let run: { i: number; v: number }[] = [];
  values.forEach((v, i) => {
    if (v === null) {
      if (run.length) runs.push(run);
      run = [];
    } else run.push({ i, v });
  });
  if (run.length) runs.push(run);
  return runs;
}

export function TimeSeriesChart<Row extends { date: string; label?: string }>({
  title,
  rows,
  series,
  kind = "line",
  height = 200,
  format = (v) => v.toLocaleString(),
  integers = false,
}: Props<Row>) {
  const wrap = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(600);
  const [active, setActive] = useState<number | null>(null);
  const titleId = useId();

  useLayoutEffect(() => {
    const node = wrap.current;
    if (!node) return;
    const observer = new ResizeObserver(([entry]) => {
      setWidth(Math.max(240, Math.floor(entry.contentRect.width)));
    });
    observer.observe(node);
    return () => observer.disconnect();
  }, []);

  const max = useMemo(
    () => Math.max(0, ...rows.flatMap((row) => series.map((s) => value(row, s.key) ?? 0))),
    [rows, series],
  );
  const ticks = niceTicks(max, 4, integers);
  const top = ticks[ticks.length - 1] || 1;
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const n = Math.max(rows.length, 1);
  const slot = plotW / n;
  const xCenter = (i: number) => PAD.left + slot * (i + 0.5);
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;
  const labelEvery = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(plotW / 56))));

  function pick(clientX: number) {
    const box = wrap.current?.getBoundingClientRect();
    if (!box || rows.length === 0) return;
    const i = Math.floor((clientX - box.left - PAD.left) / slot);
    setActive(Math.min(rows.length - 1, Math.max(0, i)));
  }

  function onKey(event: KeyboardEvent) {
    if (rows.length === 0) return;
    const last = rows.length - 1;
    const moves: Record<string, number> = {
      ArrowLeft: Math.max(0, (active ?? last + 1) - 1),
      ArrowRight: Math.min(last, (active ?? -1) + 1),
      Home: 0,
      End: last,
    };
    if (event.key in moves) {
      event.preventDefault();
      setActive(moves[event.key]);
    } else if (event.key === "Escape") setActive(null);
  }

  const activeRow = active !== null ? rows[active] : undefined;
  const show = (v: number | null) => (v === null ? "—" : format(v));
  const tipLeft = active !== null ? Math.min(Math.max(xCenter(active) - 85, 0), width - 170) : 0;

  return (
    <figure className="relative m-0">
      <figcaption id={titleId} className="mb-2 text-sm font-semibold text-zinc-900">
        {title}
      </figcaption>
      <div ref={wrap} className="relative w-full">
        <svg
          width={width}
          height={height}
          role="img"
          aria-labelledby={titleId}
          tabIndex={0}
          className="block rounded focus:outline-none focus-visible:ring-2 focus-visible:ring-emerald-500"
          onPointerMove={(e) => pick(e.clientX)}
          onPointerLeave={() => setActive(null)}
          onKeyDown={onKey}
          onBlur={() => setActive(null)}
        >
          {ticks.map((t) => (
            <g key={t}>
              <line x1={PAD.left} x2={width - PAD.right} y1={y(t)} y2={y(t)} stroke="#e5e5e5" />
              <text x={PAD.left - 6} y={y(t) + 4} textAnchor="end" fontSize="11" fill="#737373">
                {format(t)}
              </text>
            </g>
          ))}
          {rows.map((row, i) =>
            i % labelEvery === 0 ? (
              <text key={row.date} x={xCenter(i)} y={height - 8} textAnchor="middle" fontSize="11" fill="#737373">
                {shortDate(row.date)}
              </text>
            ) : null,
          )}
          {active !== null && (
            <rect x={PAD.left + slot * active} y={PAD.top} width={slot} height={plotH} fill="#f5f5f5" />
          )}
          {kind === "bar"
            ? rows.map((row, i) => {
                const barW = Math.max(1, (slot * 0.8) / series.length);
                return series.map((s, j) => {
                  const v = value(row, s.key);
                  if (v === null) return null;
                  return (
                    <rect
                      key={`${row.date}-${s.key}`}
                      x={PAD.left + slot * i + slot * 0.1 + barW * j}
                      y={y(v)}
                      width={barW}
                      height={Math.max(0, PAD.top + plotH - y(v))}
                      fill={s.color}
                      rx={barW > 4 ? 2 : 0}
                    />
                  );
                });
              })
            : series.map((s) => (
                <g key={s.key}>
                  {segments(rows.map((row) => value(row, s.key))).map((run) => (
                    <polyline
                      key={run[0].i}
                      fill="none"
                      stroke={s.color}
                      strokeWidth={2}
                      strokeLinejoin="round"
                      points={run.map(({ i, v }) => `${xCenter(i)},${y(v)}`).join(" ")}
                    />
                  ))}
                  {rows.map((row, i) => {
                    const v = value(row, s.key);
                    if (v === null || (rows.length > 31 && i !== active)) return null;
                    return <circle key={row.date} cx={xCenter(i)} cy={y(v)} r={i === active ? 4 : 2.5} fill={s.color} />;
                  })}
                </g>
              ))}
          <line x1={PAD.left} x2={width - PAD.right} y1={PAD.top + plotH} y2={PAD.top + plotH} stroke="#a3a3a3" />
        </svg>
        {activeRow && (
          <div
            role="status"
            className="pointer-events-none absolute top-1 z-10 w-[170px] rounded-md border border-zinc-200 bg-white/95 px-2 py-1.5 text-xs shadow-sm"
            style={{ left: tipLeft }}
          >
            <div className="mb-0.5 font-medium text-zinc-800">{activeRow.label ?? activeRow.date}</div>
            {series.map((s) => (
              <div key={s.key} className="flex items-center justify-between gap-2">
                <span className="flex items-center gap-1 text-zinc-600">
                  <span aria-hidden className="inline-block h-2 w-2 rounded-full" style={{ background: s.color }} />
                  {s.label}
                </span>
                <span className="tabular-nums text-zinc-900">{show(value(activeRow, s.key))}</span>
              </div>
            ))}
          </div>
        )}
      </div>
      <ul className="mt-2 flex flex-wrap gap-x-4 gap-y-1 text-xs text-zinc-600" aria-hidden>
        {series.map((s) => (
          <li key={s.key} className="flex items-center gap-1.5">
            <span className="inline-block h-2.5 w-2.5 rounded-sm" style={{ background: s.color }} />
            {s.label}
          </li>
        ))}
      </ul>
      {/* A table ignores width: 1px, so the wrapper is what hides it. */}
      <div className="sr-only">
      <table>
        <caption>{title}</caption>
        <thead>
          <tr>
            <th scope="col">Day</th>
            {series.map((s) => (
              <th key={s.key} scope="col">
                {s.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.date}>
              <th scope="row">{row.label ?? row.date}</th>
              {series.map((s) => (
                <td key={s.key}>{show(value(row, s.key))}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      </div>
    </figure>
  );
}
