import { Simulator } from "@/components/simulator/Simulator";

export const metadata = { title: "Simulator" };

export default function SimulatorPage() {
  return <Simulator />;
}
