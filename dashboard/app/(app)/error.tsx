"use client";

import { ErrorState } from "@/components/ui";

// A page that throws while rendering shows this inside the app shell, with a retry.
export default function AppError({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return <ErrorState className="h-full" title="This page hit an error" error={error} onRetry={reset} />;
}
