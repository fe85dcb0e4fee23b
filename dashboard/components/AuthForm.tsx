"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { ApiError, api } from "@/lib/api";
import { useForm } from "@/lib/hooks/useForm";
import type { Page } from "@/lib/api";
import { safeNext } from "@/lib/safe-next.mjs";
import type { Channel } from "@/lib/types";
import { Button, Card, InlineError, Input } from "@/components/ui";

type Mode = "login" | "signup";

const ACCOUNT_FIELDS = ["business_name", "name", "email", "password"] as const;
const NO_VALUES = {}; // the inputs keep their own values (a password manager fills them in)

export function AuthForm({ mode, next }: { mode: Mode; next: string | null }) {
  const router = useRouter();
  const { errors: fieldErrors, general, submitting, submit } = useForm(NO_VALUES, ACCOUNT_FIELDS);
  // Signed in: the button stays busy until the next page shows.
  const [leaving, setLeaving] = useState(false);

  function signIn(event: FormEvent<HTMLFormElement>) {
    const body = Object.fromEntries(new FormData(event.currentTarget).entries());
    return submit(async () => {
      try {
        await api(mode === "login" ? "/session/login" : "/session/register", { method: "POST", json: body });
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) throw new Error("Wrong email or password.");
        throw e;
      }
      // Only a path on this site is followed (no open redirect).
      const wanted = safeNext(next);
      let target = wanted ?? "/inbox";
      // A business with no number yet starts with the guided setup.
      if (!wanted) {
        const channels = await api<Page<Channel>>("/api/channels").catch(() => null);
        if (channels && channels.items.length === 0) target = "/onboarding";
      }
      setLeaving(true);
      router.replace(target);
    })(event);
  }

  const login = mode === "login";
  return (
    <Card>
      <div className="p-6">
        <h1 className="text-lg font-semibold text-zinc-900">
          {login ? "Sign in" : "Create your business account"}
        </h1>
        <p className="mt-1 text-sm text-zinc-500">
          {login
            ? "Welcome back. Your customers are waiting."
            : "Answer customers on WhatsApp with an AI that knows your documents."}
        </p>
        <form onSubmit={signIn} className="mt-6 flex flex-col gap-4" noValidate={false}>
          {!login && (
            <>
              <Input name="business_name" label="Business name" required autoComplete="organization" error={fieldErrors.business_name} />
              <Input name="name" label="Your name" required autoComplete="name" error={fieldErrors.name} />
            </>
          )}
          <Input name="email" type="email" label="Email" required autoComplete="email" error={fieldErrors.email} />
          <Input
            name="password"
            type="password"
            label="Password"
            required
            minLength={login ? undefined : 8}
            autoComplete={login ? "current-password" : "new-password"}
            hint={login ? undefined : "At least 8 characters."}
            error={fieldErrors.password}
          />
          <InlineError error={general} />
          <Button type="submit" loading={submitting || leaving} className="w-full">
            {login ? "Sign in" : "Create account"}
          </Button>
        </form>
        <p className="mt-6 text-center text-sm text-zinc-500">
          {login ? "New here? " : "Already have an account? "}
          <Link
            href={login ? "/signup" : "/login"}
            className="font-medium text-emerald-700 hover:underline"
          >
            {login ? "Create an account" : "Sign in"}
          </Link>
        </p>
      </div>
    </Card>
  );
}
