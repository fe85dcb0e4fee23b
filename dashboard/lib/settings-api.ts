// Calls shared by the settings, channel, contact and analytics screens (issue 14).
import { ApiError, api, listAll } from "./api";

export { listAll };
import type { Channel } from "./types";
import type { MessageTemplate } from "./settings-types";


/** The answer, or null when the route does not exist (404): a service that does not offer
 * it yet (the responder's business hours and CSAT land separately). */
export async function optional<T>(path: string): Promise<T | null> {
  try {
    return await api<T>(path);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

/** The templates of every live channel (sandboxes have none), with the channel they are of. */
export async function liveTemplates(): Promise<(MessageTemplate & { channel_id: string })[]> {
  const channels = await listAll<Channel>("/api/channels");
  const lists = await Promise.all(
    channels
      .filter((c) => c.mode === "live")
      .map(async (c) => {
        const { items } = await api<{ items: MessageTemplate[] }>(`/api/channels/${c.id}/templates`);
        return items.map((t) => ({ ...t, channel_id: c.id }));
      }),
  );
  return lists.flat();
}
