import { Onboarding } from "@/components/onboarding/Onboarding";

export const metadata = { title: "Get started" };

export default function OnboardingPage() {
  return <Onboarding />;
}
