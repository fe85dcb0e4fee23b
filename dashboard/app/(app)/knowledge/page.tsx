import { PageContainer } from "@/components/AppShell";
import { EmptyState } from "@/components/ui";

export const metadata = { title: "Knowledge" };

// Placeholder until this page is built.
export default function Page() {
  return (
    <PageContainer title="Knowledge" description="The documents the AI answers from.">
      <EmptyState title="Coming soon" description="This page is being built." />
    </PageContainer>
  );
}
