"use client";

import { createContext, useCallback, useContext, useState, type ReactNode } from "react";
import { cn } from "@/lib/cn";

type ToastKind = "success" | "error" | "info";
type ToastItem = { id: number; kind: ToastKind; text: string };
type Push = (text: string, kind?: ToastKind) => void;

const ToastContext = createContext<Push>(() => {});

/** `const toast = useToast(); toast("Saved")` or `toast(message, "error")`. */
export function useToast(): Push {
  return useContext(ToastContext);
}

let nextId = 1;

export function ToastProvider({ children }: { children: ReactNode }) {
  const [items, setItems] = useState<ToastItem[]>([]);
  const push = useCallback<Push>((text, kind = "success") => {
    const id = nextId++;
    setItems((list) => [...list, { id, kind, text }]);
    setTimeout(() => setItems((list) => list.filter((t) => t.id !== id)), kind === "error" ? 7000 : 4000);
  }, []);
  return (
    <ToastContext.Provider value={push}>
      {children}
      <div
        aria-live="polite"
        className="pointer-events-none fixed inset-x-0 bottom-4 z-50 flex flex-col items-center gap-2 px-4 sm:items-end"
      >
        {items.map((t) => (
          <div
            key={t.id}
            role={t.kind === "error" ? "alert" : "status"}
            className={cn(
              "pointer-events-auto max-w-sm rounded-lg px-4 py-2.5 text-sm shadow-lg ring-1",
              t.kind === "error" && "bg-red-600 text-white ring-red-700",
              t.kind === "success" && "bg-zinc-900 text-white ring-zinc-800",
              t.kind === "info" && "bg-white text-zinc-900 ring-zinc-200",
            )}
          >
            {t.text}
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}
