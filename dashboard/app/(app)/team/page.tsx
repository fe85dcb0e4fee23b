import { PageContainer } from "@/components/AppShell";
import { EmptyState } from "@/components/ui";

export const metadata = { title: "Team" };

// Placeholder until this page is built.
export default function Page() {
  return (
    <PageContainer title="Team" description="Members and their roles.">
      <EmptyState title="Coming soon" description="This page is being built." />
    </PageContainer>
  );
}
