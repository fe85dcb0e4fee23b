import { EmptyState } from "@/components/ui";

export default function InboxPage() {
  return <EmptyState title="Inbox" description="Conversations appear here." />;
}
