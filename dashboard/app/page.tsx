import { redirect } from "next/navigation";

// proxy.ts sends "/" on before this runs; kept for completeness.
export default function Home() {
  redirect("/inbox");
}
