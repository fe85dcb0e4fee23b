import { exchange } from "@/lib/session-handler";

export async function POST(request: Request) {
  return exchange(request, "/api/auth/register", { body: await request.text() });
}
