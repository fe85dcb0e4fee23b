import { NextResponse } from "next/server";
import { SESSION_COOKIE } from "@/lib/session";
import { crossSiteRefusal } from "@/lib/session-handler";

export async function POST(request: Request) {
  const refused = crossSiteRefusal(request);
  if (refused) return refused;
  const response = new NextResponse(null, { status: 204 });
  response.cookies.delete(SESSION_COOKIE);
  return response;
}
