"use client";

import Link from "next/link";
import { formatWhen } from "@/lib/figures";
import { useList } from "@/lib/hooks/useList";
import type { ContactProfile } from "@/lib/settings-types";
import { PageContainer } from "@/components/AppShell";
import { Card, EmptyState, ErrorState, Skeleton } from "@/components/ui";

/** Everyone who wrote to the business, most recently seen first; each opens its page. */
export function ContactsView() {
  const { items: contacts, error: loadError, refresh: load } = useList<ContactProfile>("/api/contacts");

  return (
    <PageContainer title="Contacts" description="The customers who wrote to you: profile, notes, conversations, export and erasure.">
      <Card>
        {loadError ? (
          <ErrorState error={loadError} title="Could not load the contacts" onRetry={() => void load()} />
        ) : contacts === null ? (
          <div className="flex flex-col gap-3 p-4" aria-busy aria-label="Loading the contacts">
            <Skeleton className="h-5 w-2/3" />
            <Skeleton className="h-5 w-1/2" />
          </div>
        ) : contacts.length === 0 ? (
          <EmptyState title="No contacts yet" description="A customer who writes to one of your numbers shows up here." />
        ) : (
          <ul className="divide-y divide-zinc-100" aria-label="Contacts">
            {contacts.map((c) => (
              <li key={c.id} data-testid="contact-row">
                <Link
                  href={`/contacts/${c.id}`}
                  className="flex items-center gap-3 px-4 py-3 hover:bg-zinc-50 focus-visible:outline-2 focus-visible:outline-emerald-600"
                >
                  <span className="min-w-0 flex-1">
                    <span className="block truncate text-sm font-medium text-zinc-900">{c.name || `+${c.wa_id}`}</span>
                    <span className="block truncate text-xs text-zinc-500">
                      +{c.wa_id} · last seen {formatWhen(c.last_seen_at)}
                    </span>
                  </span>
                  <span className="text-xs text-zinc-500 tabular-nums">
                    {c.conversation_count} conversation{c.conversation_count === 1 ? "" : "s"}
                  </span>
                </Link>
              </li>
            ))}
          </ul>
        )}
      </Card>
    </PageContainer>
  );
}
