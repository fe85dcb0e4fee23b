import { PageContainer } from "@/components/AppShell";
import { EmptyState } from "@/components/ui";

export const metadata = { title: "Channels" };

// Placeholder until this page is built.
export default function Page() {
  return (
    <PageContainer title="Channels" description="Your WhatsApp numbers.">
      <EmptyState title="Coming soon" description="This page is being built." />
    </PageContainer>
  );
}
