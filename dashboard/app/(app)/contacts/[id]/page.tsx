import type { Metadata } from "next";
import { ContactView } from "./contact-view";

export const metadata: Metadata = { title: "Contact" };

export default async function ContactPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <ContactView key={id} id={id} />;
}
