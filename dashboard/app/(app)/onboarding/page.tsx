import { PageContainer } from "@/components/AppShell";
import { EmptyState } from "@/components/ui";

export const metadata = { title: "Get started" };

// Placeholder until this page is built.
export default function Page() {
  return (
    <PageContainer title="Get started" description="Connect a number, add a document, try the AI.">
      <EmptyState title="Coming soon" description="This page is being built." />
    </PageContainer>
  );
}
