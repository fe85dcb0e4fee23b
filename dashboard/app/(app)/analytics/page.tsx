import { PageContainer } from "@/components/AppShell";
import { EmptyState } from "@/components/ui";

export const metadata = { title: "Analytics" };

// Placeholder until this page is built.
export default function Page() {
  return (
    <PageContainer title="Analytics" description="Messages, AI replies, handoffs and response times.">
      <EmptyState title="Coming soon" description="This page is being built." />
    </PageContainer>
  );
}
