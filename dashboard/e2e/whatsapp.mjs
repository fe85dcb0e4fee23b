// Every kind of customer message, through the real gateway: Meta-signed webhooks for a live
// number whose Graph API is wa_testing.fakes.FakeGraphAPI (started by tests/e2e/test_dashboard.py,
// which passes GATEWAY_URL, WHATSAPP_APP_SECRET, GRAPH_TOKEN, GRAPH_PNID and GRAPH_WABA_ID (a
// number the fake confirms for that token), MEDIA_IMAGE_ID, and scripts the first send to fail
// with Meta's error 131047).
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";

const T = 45_000;
export const ENV = ["GATEWAY_URL", "WHATSAPP_APP_SECRET", "GRAPH_TOKEN", "GRAPH_PNID", "GRAPH_WABA_ID", "MEDIA_IMAGE_ID"];
const CUSTOMER = "351933000111";

async function see(locator, what, timeout = T) {
  try {
    await locator.first().waitFor({ state: "visible", timeout });
  } catch (error) {
    throw new Error(`expected to see ${what}: ${error.message.split("\n")[0]}`);
  }
}

/** Meta's webhook: the JSON bytes, signed with the app secret. */
async function webhook(ctx, { messages, statuses, name = "Rui", from = CUSTOMER }) {
  const value = {
    messaging_product: "whatsapp",
    metadata: { display_phone_number: ctx.display, phone_number_id: ctx.pnid },
    ...(messages ? { contacts: [{ profile: { name }, wa_id: from }], messages } : {}),
    ...(statuses ? { statuses } : {}),
  };
  const body = JSON.stringify({
    object: "whatsapp_business_account",
    entry: [{ id: "WABA-E2E", changes: [{ field: "messages", value }] }],
  });
  const signature = createHmac("sha256", process.env.WHATSAPP_APP_SECRET).update(body).digest("hex");
  const r = await fetch(`${process.env.GATEWAY_URL}/api/webhook/whatsapp`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-hub-signature-256": `sha256=${signature}` },
    body,
  });
  assert.equal(r.status, 200, await r.text());
}

let clock = Math.floor(Date.now() / 1000) - 60;
function message(type, content, extra = {}) {
  const id = `wamid.E2E.${randomUUID().replaceAll("-", "")}`;
  clock += 1;
  return { id, msg: { from: CUSTOMER, id, timestamp: String(clock), type, ...(content ? { [type]: content } : {}), ...extra } };
}

async function waitFor(fn, what, timeout = T) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A live number connected in Channels; then text, image, location, contact card, a reply
 * with its quote, a button reply and a reaction arrive over the webhook. */
async function everyMessageKindShows(page, baseURL, ctx) {
  ctx.pnid = process.env.GRAPH_PNID;
  ctx.display = "15550783881";
  const created = await page.request.post(`${baseURL}/api/channels/whatsapp`, {
    data: {
      phone_number_id: ctx.pnid,
      waba_id: process.env.GRAPH_WABA_ID,
      display_phone_number: "+1 555 078 3881",
      access_token: process.env.GRAPH_TOKEN,
    },
  });
  assert.equal(created.status(), 201, await created.text());

  await page.goto(`${baseURL}/inbox`);
  await see(page.getByText("No conversations yet"), "an empty inbox");

  // A customer asks for a person: the AI's handoff message goes out (and fails: scripted).
  const human = message("text", { body: "Can I talk to a human please?" });
  await webhook(ctx, { messages: [human.msg] });
  const item = page.getByTestId("conversation-item").filter({ hasText: "Rui" });
  await see(item, "the conversation, live");
  await item.click();
  const view = page.getByTestId("conversation-view");
  await see(view.getByTestId("handoff-banner"), "the handoff banner");
  const banner = await view.getByTestId("handoff-banner").innerText();
  const conversationId = page.url().split("/").pop();
  const conv = await (await page.request.get(`${baseURL}/api/conversations/${conversationId}`)).json();
  if (conv.handoff_reason) assert.ok(banner.includes(conv.handoff_reason), `the reason in the banner: ${banner}`);
  await see(view.getByRole("button", { name: "Hand back to AI" }), "the AI off after the handoff");
  // The AI's message failed at Meta: a red tick and WhatsApp's reason under it.
  const failed = view.locator('[data-author="ai"]');
  await see(failed.locator('[data-status="failed"]'), "the failed tick");
  await see(failed.getByText(/Not delivered: .*24 hours/), "Meta's reason for the failure");

  const image = message("image", { id: process.env.MEDIA_IMAGE_ID, mime_type: "image/png", sha256: "x", caption: "My broken order" });
  const location = message("location", { latitude: 38.7104, longitude: -9.1365, name: "Padaria Lúcia", address: "Rua Augusta 1, Lisboa" });
  const card = message("contacts", null, {
    contacts: [{ name: { formatted_name: "Ana Lima", first_name: "Ana" }, phones: [{ phone: "+351 911 000 222", wa_id: "351911000222", type: "CELL" }] }],
  });
  const reply = message("text", { body: "This one, see the photo" }, { context: { from: CUSTOMER, id: image.id } });
  const button = message("interactive", { type: "button_reply", button_reply: { id: "yes", title: "Yes, please" } });
  for (const m of [image, location, card, reply, button]) await webhook(ctx, { messages: [m.msg] });
  const reaction = message("reaction", { message_id: image.id, emoji: "❤️" });
  await webhook(ctx, { messages: [reaction.msg] });

  const img = view.locator('[data-type="image"] img');
  await see(img, "the image bubble");
  await waitFor(() => img.evaluate((el) => el.complete && el.naturalWidth > 0), "the image bytes through /api/messages/{id}/media");
  await see(view.locator('[data-type="image"]').getByText("My broken order"), "the image's caption");
  await see(view.locator('[data-type="image"]').getByLabel("Reaction ❤️"), "the reaction on its message");
  await see(view.locator('[data-type="location"]').getByRole("link", { name: "Open map" }), "the location bubble");
  await see(view.locator('[data-type="location"]').getByText("Padaria Lúcia, Rua Augusta 1, Lisboa"), "the place");
  await see(view.locator('[data-type="contacts"]').getByText(/Ana Lima/), "the contact card");
  const quoted = view.locator('[data-type="text"]').filter({ hasText: "This one, see the photo" }).getByRole("button", { name: "Quoted message" });
  await see(quoted.getByText("My broken order"), "the reply's quote of the photo");
  await see(view.locator('[data-type="interactive"]').getByText("Yes, please"), "the button reply");
  assert.equal(await view.locator('[data-type="reaction"]').count(), 0, "a reaction is not a bubble of its own");
  ctx.conversationId = conversationId;
  await view.locator('[data-type="image"]').scrollIntoViewIfNeeded();
  await page.evaluate(() => document.getElementById("main")?.scrollTo(0, 0));
  await ctx.shot("message-kinds");
}

/** The agent's reply goes out through the Graph API; Meta's statuses move its ticks live. */
async function ticksFollowMetaStatuses(page, baseURL, ctx) {
  const view = page.getByTestId("conversation-view");
  await page.getByLabel("Your reply").fill("Sorry about that, Rui! A new one is on its way.");
  await page.getByRole("button", { name: "Send reply" }).click();
  const mine = view.locator('[data-author="agent"]').filter({ hasText: "A new one is on its way" });
  await see(mine.locator('[data-status="sent"]'), "the sent tick");
  const items = (await (await page.request.get(`${baseURL}/api/conversations/${ctx.conversationId}/messages`)).json()).items;
  const wamid = items.find((m) => m.author === "agent")?.wamid;
  assert.ok(wamid, "the reply has Meta's id");
  const ts = String(Math.floor(Date.now() / 1000));
  await webhook(ctx, { statuses: [{ id: wamid, status: "delivered", timestamp: ts, recipient_id: CUSTOMER }] });
  await see(mine.locator('[data-status="delivered"]'), "the delivered tick, live");
  await webhook(ctx, { statuses: [{ id: wamid, status: "read", timestamp: ts, recipient_id: CUSTOMER }] });
  await see(mine.locator('[data-status="read"]'), "the read tick, live");
}

/** A customer whose last message is 25 hours old: the composer says why free text is closed. */
async function closedWindowRefusesFreeText(page, baseURL, ctx) {
  const old = Math.floor(Date.now() / 1000) - 25 * 3600;
  const id = `wamid.E2E.${randomUUID().replaceAll("-", "")}`;
  const from = "351944000222";
  await webhook(ctx, {
    name: "Marta",
    from,
    messages: [{ from, id, timestamp: String(old), type: "text", text: { body: "Are you open tomorrow?" } }],
  });
  await page.goto(`${baseURL}/inbox`);
  const item = page.getByTestId("conversation-item").filter({ hasText: "Marta" });
  await see(item, "Marta's conversation");
  await item.click();
  const view = page.getByTestId("conversation-view");
  await see(view.getByTestId("window-status").filter({ hasText: "Reply window closed" }), "the closed window");
  await see(view.getByText(/only lets a business send free text within 24 hours/), "the reason");
  // The composer offers templates instead of free text (this account has none approved).
  await see(view.getByTestId("no-templates"), "the template picker's word that there is no approved template");
  assert.equal(await page.getByLabel("Your reply").count(), 0, "no free text outside the window");
  assert.equal(await page.getByRole("button", { name: "Send reply" }).count(), 0);
  // The API says the same (409), in words the dashboard would show.
  const conversationId = page.url().split("/").pop();
  const r = await page.request.post(`${baseURL}/api/conversations/${conversationId}/messages`, { data: { text: "Hello?" } });
  assert.equal(r.status(), 409);
  assert.match((await r.json()).detail, /24-hour/);
}

export const SPECS = [
  ["whatsapp: every message kind, the handoff banner, a failed send", everyMessageKindShows],
  ["whatsapp: ticks follow Meta's statuses", ticksFollowMetaStatuses],
  ["whatsapp: a closed 24-hour window refuses free text", closedWindowRefusesFreeText],
];
