"use client";

/**
 * A plain textarea with a line-number gutter that scrolls with it. A line with an error is
 * marked in the gutter and its message is shown under the editor, naming the line; the
 * caret can be sent to that line.
 */
import { forwardRef, useImperativeHandle, useRef, useState, type UIEvent } from "react";

export interface LineEditorHandle {
  /** Put the caret at the start of `line` (1-based) and focus the editor. */
  goToLine: (line: number) => void;
  /** Insert text at the caret (or replace the selection) and focus. */
  insert: (text: string) => void;
}

interface Props {
  id: string;
  label: string;
  value: string;
  onChange: (next: string) => void;
  errorLine?: number | null;
  error?: string | null;
  rows?: number;
  disabled?: boolean;
}

const LINE_HEIGHT = 20; // px, shared by the gutter and the textarea so numbers line up

export const LineEditor = forwardRef<LineEditorHandle, Props>(function LineEditor(
  { id, label, value, onChange, errorLine, error, rows = 16, disabled },
  ref,
) {
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const lines = value.split("\n").length;

  useImperativeHandle(ref, () => ({
    goToLine(line: number) {
      const node = area.current;
      if (!node) return;
      const offset = value.split("\n").slice(0, line - 1).reduce((sum, l) => sum + l.length + 1, 0);
      node.focus();
      node.setSelectionRange(offset, offset);
      node.scrollTop = Math.max(0, (line - 3) * LINE_HEIGHT);
    },
    insert(text: string) {
      const node = area.current;
      if (!node) return;
      const start = node.selectionStart ?? value.length;
      const end = node.selectionEnd ?? value.length;
      onChange(value.slice(0, start) + text + value.slice(end));
      requestAnimationFrame(() => {
        node.focus();
        node.setSelectionRange(start + text.length, start + text.length);
      });
    },
  }));

  function onScroll(event: UIEvent<HTMLTextAreaElement>) {
    if (gutter.current) gutter.current.scrollTop = event.currentTarget.scrollTop;
    setScrollTop(event.currentTarget.scrollTop);
  }

  return (
    <div>
      <label htmlFor={id} className="mb-1 block text-sm font-medium text-zinc-800">
        {label}
      </label>
      <div
        className={`flex overflow-hidden rounded-lg border bg-white font-mono text-[13px] focus-within:ring-2 focus-within:ring-emerald-500 ${
          error ? "border-red-500" : "border-zinc-300"
        }`}
        style={{ lineHeight: `${LINE_HEIGHT}px` }}
      >
        <div
          ref={gutter}
          aria-hidden
          className="select-none overflow-hidden border-r border-zinc-200 bg-zinc-50 py-2 text-right text-zinc-500"
          style={{ height: rows * LINE_HEIGHT + 16 }}
        >
          {Array.from({ length: lines }, (_, i) => (
            <div
              key={i}
              data-line={i + 1}
              data-error={i + 1 === errorLine ? "true" : undefined}
              title={i + 1 === errorLine && error ? error : undefined}
              className={`px-2 ${i + 1 === errorLine ? "bg-red-100 font-semibold text-red-700" : ""}`}
            >
              {i + 1 === errorLine ? "●" : ""}
              {i + 1}
            </div>
          ))}
        </div>
        <div className="relative flex-1">
          {errorLine != null && errorLine <= lines && (
            <div
              aria-hidden
              className="pointer-events-none absolute inset-x-0 bg-red-50"
              data-testid="error-line-highlight"
              style={{ top: 8 + (errorLine - 1) * LINE_HEIGHT - scrollTop, height: LINE_HEIGHT }}
            />
          )}
          <textarea
            ref={area}
            id={id}
            value={value}
            rows={rows}
            disabled={disabled}
            spellCheck={false}
            wrap="off"
            onChange={(e) => onChange(e.target.value)}
            onScroll={onScroll}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? `${id}-error` : undefined}
            className="relative block w-full resize-none whitespace-pre bg-transparent px-3 py-2 outline-none"
            style={{ height: rows * LINE_HEIGHT + 16, lineHeight: `${LINE_HEIGHT}px` }}
          />
        </div>
      </div>
    </div>
  );
});
