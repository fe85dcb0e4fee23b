"use client";

import { useSelectedLayoutSegment } from "next/navigation";
import { ConversationList } from "@/components/inbox/ConversationList";
import { cn } from "@/lib/cn";

// List and conversation side by side on wide screens; one at a time on a phone.
export default function InboxLayout({ children }: { children: React.ReactNode }) {
  const segment = useSelectedLayoutSegment();
  const selected = segment && segment !== "__PAGE__" ? decodeURIComponent(segment) : null;
  return (
    <div className="flex h-full min-h-0">
      <section
        aria-label="Conversations"
        className={cn(
          "min-h-0 w-full shrink-0 border-zinc-200 bg-white lg:flex lg:w-80 lg:border-r xl:w-96",
          selected ? "hidden" : "flex",
        )}
      >
        <div className="min-h-0 w-full">
          <ConversationList selectedId={selected} />
        </div>
      </section>
      <section aria-label="Conversation" className={cn("min-h-0 min-w-0 flex-1", selected ? "flex flex-col" : "hidden lg:flex lg:flex-col")}>
        {children}
      </section>
    </div>
  );
}
