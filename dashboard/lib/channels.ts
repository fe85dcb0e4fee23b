import { api, listAll } from "./api";
import type { Channel } from "./types";

export async function listChannels(): Promise<Channel[]> {
  return listAll<Channel>("/api/channels");
}

/** A sandbox number: no Meta account needed; customers are played from the simulator.
 * The platform names it (`sandbox-…`); the display number is only a label. */
export async function createSandboxChannel(): Promise<Channel> {
  const digits = Array.from(crypto.getRandomValues(new Uint8Array(7)), (b) => b % 10).join("");
  return api<Channel>("/api/channels/whatsapp", {
    method: "POST",
    json: { display_phone_number: `+1 555 ${digits}` },
  });
}

export function channelLabel(c: Channel): string {
  const number = c.display_phone_number || c.phone_number_id;
  return c.mode === "sandbox" ? `${number} (sandbox)` : number;
}
