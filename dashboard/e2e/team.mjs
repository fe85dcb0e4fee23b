// A two-agent support team through the team inbox: the owner (the group's signed-up business)
// adds an agent, a label, a canned reply, turns round-robin on and connects a live number whose
// Graph API is wa_testing.fakes.FakeGraphAPI (tests/e2e/test_dashboard.py passes GRAPH_TEAM_PNID and
// GRAPH_TEAM_WABA_ID, an account with the templates `order_ready` (approved) and `spring_sale`
// (pending), and GRAPH_INSPECT_URL, which lists what the fake received). Then, in two browser
// contexts (one per agent): a handoff assigned round-robin, a private note seen live by the
// other agent and never sent, a label and its filter, a `/shortcut` canned reply, and a closed
// window answered with a template.
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";

const T = 45_000;
export const ENV = ["GATEWAY_URL", "WHATSAPP_APP_SECRET", "GRAPH_TOKEN", "GRAPH_TEAM_PNID", "GRAPH_TEAM_WABA_ID", "GRAPH_INSPECT_URL"];
const SOFIA = "351955000111"; // asks for a person: the handoff
const MARTA = "351955000222"; // wrote 25 hours ago: the window is closed
const NOTE = "VIP customer: offer free delivery (team only)";

async function see(locator, what, timeout = T) {
  try {
    await locator.first().waitFor({ state: "visible", timeout });
  } catch (error) {
    throw new Error(`expected to see ${what}: ${error.message.split("\n")[0]}`);
  }
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

async function ok(response, status = 200) {
  assert.equal(response.status(), status, `${response.url()}: ${await response.text()}`);
  return response.status() === 204 ? null : response.json();
}

/** A customer's message through the gateway, signed like Meta's webhooks (text, or any
 * `kind` with its `content`). */
async function customerWrites({ from, name, text, timestamp = Math.floor(Date.now() / 1000), kind = "text", content = { body: text } }) {
  const id = `wamid.E2E.${randomUUID().replaceAll("-", "")}`;
  const value = {
    messaging_product: "whatsapp",
    metadata: { display_phone_number: "15550783999", phone_number_id: process.env.GRAPH_TEAM_PNID },
    contacts: [{ profile: { name }, wa_id: from }],
    messages: [{ from, id, timestamp: String(timestamp), type: kind, [kind]: content }],
  };
  const body = JSON.stringify({
    object: "whatsapp_business_account",
    entry: [{ id: process.env.GRAPH_TEAM_WABA_ID, changes: [{ field: "messages", value }] }],
  });
  const signature = createHmac("sha256", process.env.WHATSAPP_APP_SECRET).update(body).digest("hex");
  const r = await fetch(`${process.env.GATEWAY_URL}/api/webhook/whatsapp`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-hub-signature-256": `sha256=${signature}` },
    body,
  });
  assert.equal(r.status, 200, await r.text());
}

/** Every send the fake Graph API received (read receipts aside). */
async function graphSends() {
  const r = await fetch(`${process.env.GRAPH_INSPECT_URL}/sends`);
  assert.equal(r.status, 200);
  return r.json();
}

async function conversationOf(page, baseURL, waId) {
  const list = await ok(await page.request.get(`${baseURL}/api/conversations?limit=50`));
  return list.items.find((c) => c.contact.wa_id === waId) ?? null;
}

/** The owner sets the team up (by API: the settings screens are another page's), the agent
 * signs in in a second browser, and Sofia's request for a person goes to one of them. */
async function handoffAssignedRoundRobin(page, baseURL, ctx) {
  const owner = await ok(await page.request.get(`${baseURL}/api/auth/me`));
  const email = `bruno-${Date.now()}@e2e.example`;
  const agent = await ok(
    await page.request.post(`${baseURL}/api/team/members`, {
      data: { email, name: "Bruno Agent", password: "a-long-password-2", role: "agent" },
    }),
    201,
  );
  ctx.team = { owner: owner.user, agent };
  ctx.label = await ok(await page.request.post(`${baseURL}/api/labels`, { data: { name: "VIP", color: "#7c3aed" } }), 201);
  await ok(
    await page.request.post(`${baseURL}/api/canned-replies`, {
      data: { shortcut: "thanks", text: "Thanks {{customer_name}}! {{agent_name}} here, I'm on it." },
    }),
    201,
  );
  const settings = await ok(await page.request.put(`${baseURL}/api/inbox/settings`, { data: { round_robin: true } }));
  assert.equal(settings.round_robin, true);
  const channel = await ok(
    await page.request.post(`${baseURL}/api/channels/whatsapp`, {
      data: {
        phone_number_id: process.env.GRAPH_TEAM_PNID,
        waba_id: process.env.GRAPH_TEAM_WABA_ID,
        display_phone_number: "+1 555 078 3999",
        access_token: process.env.GRAPH_TOKEN,
      },
    }),
    201,
  );
  // Connecting synced the account's templates.
  const templates = await ok(await page.request.get(`${baseURL}/api/channels/${channel.id}/templates`));
  assert.deepEqual(templates.items.map((t) => `${t.name}:${t.status}`).sort(), ["order_ready:APPROVED", "spring_sale:PENDING"]);

  // The agent signs in in their own browser; both have the inbox open (both online).
  ctx.agentContext = await ctx.browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "en-GB", timezoneId: "UTC" });
  ctx.agentContext.setDefaultTimeout(30_000);
  ctx.agentErrors = [];
  await ok(await ctx.agentContext.request.post(`${baseURL}/session/login`, { data: { email, password: "a-long-password-2" } }));
  const bruno = await ctx.agentContext.newPage();
  bruno.on("pageerror", (e) => ctx.agentErrors.push(e.message));
  ctx.bruno = bruno;
  await Promise.all([page.goto(`${baseURL}/inbox`), bruno.goto(`${baseURL}/inbox`)]);
  await see(page.getByText("No conversations yet"), "the owner's empty inbox");
  await see(bruno.getByText("No conversations yet"), "the agent's empty inbox");

  await customerWrites({ from: SOFIA, name: "Sofia", text: "Can I talk to a human please?" });
  const assigned = await waitFor(async () => {
    const c = await conversationOf(page, baseURL, SOFIA);
    return c && c.status === "handoff" && c.assignee_id ? c : null;
  }, "Sofia's handoff, assigned round-robin");
  assert.ok([owner.user.id, agent.id].includes(assigned.assignee_id), "assigned to a member of the team");
  ctx.sofia = assigned.id;
  ctx.channelId = channel.id;
  const [mine, other] = assigned.assignee_id === agent.id ? [bruno, page] : [page, bruno];
  // "Mine" shows it to the member it went to, not to the other.
  for (const p of [mine, other]) await p.getByRole("group", { name: "Filter by assignee" }).getByRole("button", { name: "Mine" }).click();
  const row = mine.getByTestId("conversation-item").filter({ hasText: "Sofia" });
  await see(row, "Sofia's conversation in Mine of the member it was assigned to");
  await see(row.getByTestId("row-assignee").filter({ hasText: "You" }), "the row's assignee");
  await see(other.getByText("No conversation matches"), "nothing in Mine for the other member");
  await other.getByRole("group", { name: "Filter by assignee" }).getByRole("button", { name: "All" }).click();
  const name = assigned.assignee_id === agent.id ? "Bruno Agent" : owner.user.name;
  await see(other.getByTestId("conversation-item").filter({ hasText: "Sofia" }).getByTestId("row-assignee").filter({ hasText: name }), "the assignee's name in All");
  await ctx.shot("team-round-robin", mine);
}

/** Olga writes a private note: Bruno, on the same conversation, sees it arrive; Meta never
 * receives it. Olga then assigns the conversation to herself in the header. */
async function noteSeenLiveNeverSent(page, baseURL, ctx) {
  const bruno = ctx.bruno;
  await Promise.all([page.goto(`${baseURL}/inbox/${ctx.sofia}`), bruno.goto(`${baseURL}/inbox/${ctx.sofia}`)]);
  const view = page.getByTestId("conversation-view");
  const theirs = bruno.getByTestId("conversation-view");
  await see(view.getByTestId("team-bar"), "the team bar");
  await see(theirs.getByTestId("team-bar"), "the agent's team bar");
  // The contact's page is one click away.
  assert.match(await view.getByTestId("contact-link").getAttribute("href"), /^\/contacts\/[0-9a-f-]{36}$/);
  await view.getByLabel("Assignee").selectOption(ctx.team.owner.id);
  await waitFor(async () => (await ok(await page.request.get(`${baseURL}/api/conversations/${ctx.sofia}`))).assignee_id === ctx.team.owner.id, "the assignment saved");

  await page.getByRole("group", { name: "Compose" }).getByRole("button", { name: "Private note" }).click();
  await page.getByLabel("Your private note").fill(NOTE);
  await page.getByRole("button", { name: "Add note" }).click();
  const mine = view.locator('[data-type="note"]').filter({ hasText: NOTE });
  await see(mine, "the note in the owner's thread");
  const live = theirs.locator('[data-type="note"]').filter({ hasText: NOTE });
  await see(live, "the note, live, in the agent's thread");
  await see(live.getByTestId("note-author").filter({ hasText: `Private note · ${ctx.team.owner.name}` }), "the note's author");
  // The live note re-sorts the agent's thread: it still reads as it happened — Sofia's
  // question (Meta's whole second), the AI's reply (our microseconds), then the note. (String
  // order put a reply of the same second above its question; that case is pinned down in
  // lib/message-order.test.mjs, as here the reply may land in the next second.)
  const authors = await theirs.getByTestId("message").evaluateAll((els) => els.map((el) => `${el.dataset.author}:${el.dataset.type}`));
  assert.deepEqual(authors, ["customer:text", "ai:text", "agent:note"], "the agent's thread in the API's order");
  // The agent's header follows the assignment live too.
  await waitFor(async () => (await theirs.getByLabel("Assignee").inputValue()) === ctx.team.owner.id, "the assignee, live, for the agent");
  await ctx.shot("team-private-note", bruno);
  await new Promise((r) => setTimeout(r, 1000)); // a send would have reached the fake by now
  const sends = await graphSends();
  assert.ok(!JSON.stringify(sends).includes("free delivery"), "the note never reached WhatsApp");
}

/** A label on Sofia's conversation; the label filter shows it and not Marta's. */
async function labelAndFilter(page, baseURL, ctx) {
  // Marta wrote 25 hours ago (her window is closed: the template step uses her).
  await customerWrites({ from: MARTA, name: "Marta", text: "Is my order ready?", timestamp: Math.floor(Date.now() / 1000) - 25 * 3600 });
  await waitFor(() => conversationOf(page, baseURL, MARTA), "Marta's conversation");
  const view = page.getByTestId("conversation-view");
  await view.getByLabel("Add a label").selectOption(ctx.label.id);
  await see(view.getByTestId("team-bar").getByTestId("label-chip").filter({ hasText: "VIP" }), "the label on the conversation");
  await page.goto(`${baseURL}/inbox`);
  await see(page.getByTestId("conversation-item").filter({ hasText: "Marta" }), "Marta's conversation listed");
  await page.getByLabel("Filter by label").selectOption(ctx.label.id);
  const sofia = page.getByTestId("conversation-item").filter({ hasText: "Sofia" });
  await see(sofia.getByTestId("label-chip").filter({ hasText: "VIP" }), "Sofia's conversation under the VIP filter");
  await waitFor(async () => (await page.getByTestId("conversation-item").count()) === 1, "only the labelled conversation");
  await ctx.shot("team-label-filter");
  await page.getByLabel("Filter by label").selectOption("");
  await see(page.getByTestId("conversation-item").filter({ hasText: "Marta" }), "every conversation again");
}

/** `/tha` opens the canned replies; picking one fills the customer's and the agent's names;
 * it goes to WhatsApp as typed. */
async function cannedReplyByShortcut(page, baseURL, ctx) {
  await page.goto(`${baseURL}/inbox/${ctx.sofia}`);
  const view = page.getByTestId("conversation-view");
  await see(view.getByTestId("window-status").filter({ hasText: "Reply window open · closes in" }), "the open window and its time left");
  const box = page.getByLabel("Your reply");
  await box.fill("/tha");
  const picker = page.getByTestId("canned-picker");
  await see(picker.getByText("/thanks"), "the canned-reply picker");
  await ctx.shot("team-canned-picker");
  await box.press("Enter");
  const filled = `Thanks Sofia! ${ctx.team.owner.name} here, I'm on it.`;
  await waitFor(async () => (await box.inputValue()) === filled, `the filled reply (${filled})`);
  await box.press("Enter");
  await see(view.locator('[data-author="agent"]').filter({ hasText: filled }), "the reply in the thread");
  const sent = await waitFor(
    async () => (await graphSends()).find((s) => s.json?.type === "text" && s.json?.text?.body === filled && s.wamid),
    "the canned reply at the fake Graph API",
  );
  assert.equal(sent.json.to, SOFIA);
}

/** Marta's window is closed: the composer is the template picker (approved templates only);
 * opening it marks it read for Olga only; an empty parameter is refused next to its field; the template reaches Meta as a template. */
async function closedWindowAnsweredWithTemplate(page, baseURL, ctx) {
  const marta = await conversationOf(page, baseURL, MARTA);
  assert.equal(marta.window_closes_at, null, "the API says the window is closed");
  await page.goto(`${baseURL}/inbox/${marta.id}`);
  const view = page.getByTestId("conversation-view");
  await see(view.getByTestId("window-status").filter({ hasText: "Reply window closed" }), "the closed window");
  const picker = view.getByTestId("template-picker");
  await see(picker, "the template picker");
  assert.equal(await page.getByLabel("Your reply").count(), 0, "no free text outside the window");
  // Unread counts are per member: opening it read it for Olga, not for Bruno.
  await waitFor(async () => (await conversationOf(page, baseURL, MARTA)).unread_count === 0, "Marta's conversation read by Olga");
  const theirs = await ok(await ctx.agentContext.request.get(`${baseURL}/api/conversations/${marta.id}`));
  assert.equal(theirs.unread_count, 1, "still unread for Bruno, who never opened it");
  const options = await picker.getByLabel("Template", { exact: true }).locator("option").allInnerTexts();
  assert.ok(options.some((o) => o.startsWith("order_ready (en_US)")), `the approved template offered: ${options}`);
  assert.ok(!options.some((o) => o.includes("spring_sale")), "a pending template is not offered");
  await picker.getByLabel("Template", { exact: true }).selectOption({ label: options.find((o) => o.startsWith("order_ready")) });
  await picker.getByLabel("Body {{1}}").fill("Marta");
  await see(picker.getByTestId("template-preview").filter({ hasText: "Hi Marta, your order {{2}} is ready for pickup." }), "the live preview");
  // {{2}} left empty: the service's 422 names it, shown under that field.
  await picker.getByRole("button", { name: "Send template" }).click();
  await see(picker.getByTestId("template-field-error").filter({ hasText: /body\[1\]|body\.1/ }), "the 422 next to {{2}}");
  assert.equal(await picker.getByLabel("Body {{2}}").getAttribute("aria-invalid"), "true");
  await picker.getByLabel("Body {{2}}").fill("#1042");
  assert.equal(await picker.getByTestId("template-field-error").count(), 0, "the error goes once the field is edited");
  const text = "Hi Marta, your order #1042 is ready for pickup.";
  await see(picker.getByTestId("template-preview").filter({ hasText: `Lumen Bikes\n\n${text}` }), "the preview with header and body");
  await ctx.shot("team-template-picker");
  await picker.getByRole("button", { name: "Send template" }).click();
  const bubble = view.locator('[data-type="template"]').filter({ hasText: text });
  await see(bubble.getByTestId("template-tag"), "the template message in the thread");
  await see(bubble.locator('[data-status="sent"]'), "the template accepted by Meta");
  const sent = await waitFor(
    async () => (await graphSends()).find((s) => s.json?.type === "template" && s.json.to === MARTA && s.wamid),
    "the template send at the fake Graph API",
  );
  assert.equal(sent.json.template.name, "order_ready");
  assert.equal(sent.json.template.language.code, "en_US");
  const body = sent.json.template.components.find((c) => c.type === "body");
  assert.deepEqual(body.parameters.map((p) => p.text), ["Marta", "#1042"]);
  await ctx.shot("team-template-sent");
}

/** Taking over an unassigned conversation assigns whoever took it over. */
async function takeoverAssigns(page, baseURL, ctx) {
  const marta = await conversationOf(page, baseURL, MARTA);
  const view = page.getByTestId("conversation-view");
  await view.getByLabel("Assignee").selectOption("");
  await waitFor(async () => (await ok(await page.request.get(`${baseURL}/api/conversations/${marta.id}`))).assignee_id === null, "Marta unassigned");
  await view.getByRole("button", { name: "Hand back to AI" }).click();
  await see(view.getByRole("button", { name: "Take over" }), "the AI answering again");
  await view.getByRole("button", { name: "Take over" }).click();
  await see(view.getByRole("button", { name: "Hand back to AI" }), "the takeover");
  await waitFor(async () => (await view.getByLabel("Assignee").inputValue()) === ctx.team.owner.id, "Olga assigned by taking over");
  const after = await ok(await page.request.get(`${baseURL}/api/conversations/${marta.id}`));
  assert.equal(after.assignee_id, ctx.team.owner.id);
  assert.equal(after.ai_enabled, false);
}

/** CSAT on: resolving Sofia's conversation (her window is open) asks her with reply buttons;
 * her tap on "Great" (`csat:3`) shows on the conversation. */
async function csatCollected(page, baseURL, ctx) {
  const settings = await ok(await page.request.put(`${baseURL}/api/csat`, { data: { enabled: true, question: "How did we do today?" } }));
  assert.equal(settings.enabled, true);
  await page.goto(`${baseURL}/inbox/${ctx.sofia}`);
  const view = page.getByTestId("conversation-view");
  await view.getByRole("button", { name: "Resolve", exact: true }).click();
  await see(view.getByRole("button", { name: "Reopen" }), "the conversation resolved");
  const asked = await waitFor(
    async () => (await graphSends()).find((s) => s.json?.type === "interactive" && s.json.to === SOFIA && s.wamid),
    "the rating question at the fake Graph API",
  );
  assert.equal(asked.json.interactive.type, "button");
  assert.equal(asked.json.interactive.body.text, "How did we do today?");
  assert.deepEqual(asked.json.interactive.action.buttons.map((b) => b.reply.id), ["csat:3", "csat:2", "csat:1"]);
  await customerWrites({
    from: SOFIA,
    name: "Sofia",
    kind: "interactive",
    content: { type: "button_reply", button_reply: { id: "csat:3", title: "😀 Great" } },
  });
  await see(view.getByTestId("csat-rating").filter({ hasText: "Great" }), "the rating on the conversation", T);
  const rated = await ok(await page.request.get(`${baseURL}/api/conversations/${ctx.sofia}`));
  assert.equal(rated.csat.score, 3);
  await ctx.shot("team-csat");
}

async function done(_page, _baseURL, ctx) {
  assert.deepEqual(ctx.agentErrors, [], "no uncaught errors in the agent's page");
  await ctx.agentContext.close();
}

export const SPECS = [
  ["team: a handoff is assigned round-robin and shows in Mine", handoffAssignedRoundRobin],
  ["team: a private note, live for the other agent, never sent", noteSeenLiveNeverSent],
  ["team: a label and the label filter", labelAndFilter],
  ["team: a canned reply typed as /shortcut", cannedReplyByShortcut],
  ["team: a closed window answered with a template", closedWindowAnsweredWithTemplate],
  ["team: taking over assigns the agent", takeoverAssigns],
  ["team: CSAT asked on resolve, the rating shown", csatCollected],
  ["team: the agent's browser closes cleanly", done],
];
