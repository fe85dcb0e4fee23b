import type { ReactNode } from "react";
import { cn } from "@/lib/cn";
import { errorMessage } from "@/lib/api";
import { Button } from "./Button";

export function ErrorState({
  error,
  title = "Could not load this",
  onRetry,
  className,
}: {
  error: unknown;
  title?: ReactNode;
  onRetry?: () => void;
  className?: string;
}) {
  return (
    <div
      role="alert"
      className={cn(
        "flex flex-col items-center justify-center gap-2 px-6 py-10 text-center",
        className,
      )}
    >
      <p className="text-sm font-medium text-red-700">{title}</p>
      <p className="max-w-md text-sm text-zinc-600">{errorMessage(error)}</p>
      {onRetry && (
        <Button variant="secondary" size="sm" onClick={onRetry} className="mt-2">
          Try again
        </Button>
      )}
    </div>
  );
}

/** A one-line error under a form or above a list: an error thrown, or a message already
 * worded (a form's `general`). */
export function InlineError({ error, className }: { error: unknown; className?: string }) {
  if (!error) return null;
  return (
    <p
      role="alert"
      className={cn("rounded-md bg-red-50 px-3 py-2 text-sm text-red-700", className)}
    >
      {typeof error === "string" ? error : errorMessage(error)}
    </p>
  );
}
