import { PageContainer } from "@/components/AppShell";
import { EmptyState } from "@/components/ui";

export const metadata = { title: "AI settings" };

// Placeholder until this page is built.
export default function Page() {
  return (
    <PageContainer title="AI settings" description="Persona, instructions, prompt templates and a preview.">
      <EmptyState title="Coming soon" description="This page is being built." />
    </PageContainer>
  );
}
