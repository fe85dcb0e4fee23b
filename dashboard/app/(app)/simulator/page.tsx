import { PageContainer } from "@/components/AppShell";
import { EmptyState } from "@/components/ui";

export const metadata = { title: "Simulator" };

// Placeholder until this page is built.
export default function Page() {
  return (
    <PageContainer title="Simulator" description="Write as a customer on a sandbox number.">
      <EmptyState title="Coming soon" description="This page is being built." />
    </PageContainer>
  );
}
