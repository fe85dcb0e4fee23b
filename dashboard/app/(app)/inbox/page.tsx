import { EmptyState } from "@/components/ui";
import { InboxIcon } from "@/components/icons";

export const metadata = { title: "Inbox" };

export default function InboxPage() {
  return (
    <EmptyState
      className="h-full"
      icon={<InboxIcon className="h-8 w-8" />}
      title="Pick a conversation"
      description="Customers' messages and the AI's answers appear here live."
    />
  );
}
