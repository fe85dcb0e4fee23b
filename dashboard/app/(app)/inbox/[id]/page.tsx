import { EmptyState } from "@/components/ui";

export default function ConversationPage() {
  return <EmptyState title="Conversation" />;
}
