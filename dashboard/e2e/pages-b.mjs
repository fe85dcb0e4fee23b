// Browser specs for the knowledge, AI, analytics, team, channel, settings and contact pages.
//
// Each export is `async (page, baseURL, ctx) => void`: `page` is a playwright-core Page of a
// signed-in owner (a fresh business), `baseURL` the dashboard's origin, `ctx` an object the
// specs share (the uploaded document's name, for later specs). They throw on failure.
// Run them in this order (SPECS): the preview spec asks about the document uploaded first.
import assert from "node:assert/strict";

const TIMEOUT = 60_000;

export const DOCUMENT_TEXT = [
  "Lumen Bikes — store handbook",
  "",
  "Opening hours",
  "The Lumen Bikes shop on Harbour Street is open Monday to Saturday from 9:00 to 18:30.",
  "On Sundays the workshop is closed, but online orders are still shipped on Monday morning.",
  "",
  "Returns",
  "Bikes can be returned within 30 days with the receipt. Helmets cannot be returned once worn.",
].join("\n");

// A valid one-page PDF without any text: stored, then indexing fails ("a scanned PDF?").
const BLANK_PDF =
  "JVBERi0xLjQKMSAwIG9iago8PCAvVHlwZSAvQ2F0YWxvZyAvUGFnZXMgMiAwIFIgPj4KZW5kb2JqCjIgMCBvYmoKPDwgL1R5cGUgL1BhZ2VzIC9LaWRzIFszIDAgUl0gL0NvdW50IDEgPj4KZW5kb2JqCjMgMCBvYmoKPDwgL1R5cGUgL1BhZ2UgL1BhcmVudCAyIDAgUiAvTWVkaWFCb3ggWzAgMCAyMDAgMjAwXSA+PgplbmRvYmoKeHJlZgowIDQKMDAwMDAwMDAwMCA2NTUzNSBmIAowMDAwMDAwMDA5IDAwMDAwIG4gCjAwMDAwMDAwNTggMDAwMDAgbiAKMDAwMDAwMDExNSAwMDAwMCBuIAp0cmFpbGVyCjw8IC9TaXplIDQgL1Jvb3QgMSAwIFIgPj4Kc3RhcnR4cmVmCjE4NgolJUVPRgo=";

async function see(locator, message) {
  try {
    await locator.first().waitFor({ state: "visible", timeout: TIMEOUT });
  } catch (error) {
    throw new Error(`${message}: ${error.message.split("\n")[0]}`);
  }
}

async function until(check, message, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${message}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A screenshot once the toasts have gone (they would cover the page's corner). */
async function shot(page, ctx, name) {
  if (!ctx.shot) return;
  await until(
    async () => (await page.locator('[aria-live="polite"].fixed > *').count()) === 0,
    "the toasts go",
    10_000,
  ).catch(() => undefined);
  await ctx.shot(name);
}

/** Upload two files (file picker + drag and drop), see them indexed, find one in the search tester. */
export async function knowledgeUploadAndSearch(page, baseURL, ctx) {
  // The first list answer comes late (as on a busy server): uploads finished before it must stay.
  const isList = (url) => url.pathname === "/api/documents" && url.searchParams.get("cursor") === null;
  let slow = true;
  const slowList = async (route) => {
    if (!slow || route.request().method() !== "GET") return route.continue();
    const response = await route.fetch(); // the list as it is now, delivered late
    await new Promise((resolve) => setTimeout(resolve, 2500));
    await route.fulfill({ response });
  };
  await page.route(isList, slowList);
  await page.goto(`${baseURL}/knowledge`);
  await see(page.getByRole("heading", { name: "Knowledge" }), "the knowledge page loads");
  ctx.documentName = `lumen-handbook-${Date.now()}.txt`;
  await page.locator('input[type="file"]').setInputFiles({
    name: ctx.documentName,
    mimeType: "text/plain",
    buffer: Buffer.from(DOCUMENT_TEXT),
  });
  // A second file by drag and drop onto the drop zone.
  const second = `shipping-${Date.now()}.md`;
  await page.evaluate(
    ({ name, text }) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([text], name, { type: "text/markdown" }));
      const zone = document.querySelector('[data-testid="dropzone"]');
      for (const type of ["dragenter", "dragover", "drop"]) {
        zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
      }
    },
    { name: second, text: "# Shipping\n\nWe ship every bike in Europe within 5 working days. Shipping is free above 500 euros.\n" },
  );
  await see(page.getByRole("progressbar", { name: `Uploading ${second}` }), "the dropped file shows its progress");
  slow = false;
  for (const name of [ctx.documentName, second]) {
    const row = page.getByTestId("document-row").filter({ hasText: name });
    await see(row, `${name} is listed`);
    await see(row.getByText(/Indexed · \d+ passage/), `${name} becomes indexed`);
  }
  // A file the knowledge service cannot read is refused at once, on its own row.
  await page.locator('input[type="file"]').setInputFiles({
    name: "photo.png",
    mimeType: "image/png",
    buffer: Buffer.from("89504e470d0a1a0a0000000d4948445200000001000000010806000000", "hex"),
  });
  const refused = page.getByTestId("upload-row").filter({ hasText: "photo.png" });
  await see(refused.getByText(/^Not supported:/), "an image is refused with the reason");
  // A PDF without text is accepted, then fails indexing: the row says why, live.
  await page.locator('input[type="file"]').setInputFiles({
    name: "scanned-invoice.pdf",
    mimeType: "application/pdf",
    buffer: Buffer.from(BLANK_PDF, "base64"),
  });
  const scanned = page.getByTestId("document-row").filter({ hasText: "scanned-invoice.pdf" });
  await see(scanned.getByText("Failed", { exact: true }), "the text-less PDF fails indexing");
  await see(scanned.getByText(/No text could be extracted/), "the failure says why");
  // Re-index the dropped file: processing, then indexed again; then delete it (confirmed).
  const shipping = page.getByTestId("document-row").filter({ hasText: second });
  await shipping.getByRole("button", { name: `Re-index ${second}` }).click();
  await see(page.getByText(`Re-indexing ${second}`), "re-indexing is acknowledged");
  await see(shipping.getByText(/Indexed · \d+ passage/), "the re-indexed file is indexed again");
  await shipping.getByRole("button", { name: `Delete ${second}` }).click();
  const dialog = page.getByRole("dialog", { name: "Delete this document?" });
  await dialog.getByRole("button", { name: "Delete" }).click();
  await shipping.waitFor({ state: "detached", timeout: TIMEOUT });
  await see(page.getByText(`${second} deleted`), "the deletion is confirmed");

  await page.getByLabel("Question").fill("When is the shop open on Saturday?");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  const result = page.getByTestId("search-result").filter({ hasText: ctx.documentName });
  await see(result, "the search tester finds the handbook");
  assert.match(await result.first().innerText(), /\d\.\d\d · (clear|partial) match/);
  await page.unroute(isList, slowList);
  await shot(page, ctx, "knowledge");
  // The tester hands the question to the AI preview.
  await page.getByRole("link", { name: "Ask the AI this question →" }).click();
  await see(page.getByRole("tab", { name: "Preview", selected: true }), "the preview tab opens");
  assert.equal(await page.getByLabel("Customer message").inputValue(), "When is the shop open on Saturday?");
}

/** A bad temperature gets the API's 422 on its field; a good one saves. */
export async function aiSettingsValidation(page, baseURL, ctx) {
  await page.goto(`${baseURL}/ai`);
  const temperature = page.getByLabel("Temperature");
  await see(temperature, "the AI settings load");
  await temperature.fill("5");
  await page.getByRole("button", { name: "Save settings" }).click();
  const error = page.locator(`#${await temperature.getAttribute("id")}-error`);
  await see(error, "the 422 appears under the temperature");
  assert.match(await error.innerText(), /less than or equal to 2/);
  assert.equal(await temperature.getAttribute("aria-invalid"), "true");
  await shot(page, ctx, "ai-settings-error");
  await temperature.fill("0.4");
  await page.getByLabel("Handoff keywords", { exact: true }).fill("refund, lawyer");
  await page.getByLabel("Handoff keywords", { exact: true }).press("Enter");
  await page.getByRole("button", { name: "Save settings" }).click();
  await see(page.getByText("AI settings saved"), "valid settings save");
  await page.reload();
  await see(page.getByLabel("Temperature"), "the settings load again");
  assert.equal(await page.getByLabel("Temperature").inputValue(), "0.4");
  await see(page.getByRole("button", { name: "Remove lawyer" }), "the keywords were saved as chips");
}

/** An unknown variable is refused and marked on its line; a fixed template saves and is used. */
export async function templateErrorOnItsLine(page, baseURL, ctx) {
  await page.goto(`${baseURL}/ai#prompts`);
  await see(page.getByRole("tab", { name: "Prompt templates", selected: true }), "the prompts tab opens from the hash");
  await page.getByRole("button", { name: "New", exact: true }).click();
  const editor = page.getByRole("form", { name: "Prompt template editor" });
  await editor.getByLabel("Name", { exact: true }).fill("Short answers");
  const body = editor.getByLabel("Template", { exact: true });
  await body.fill("You help the customers of {{ business_name }}.\nBe brief.\nGreet {{ customer_nickname }} by name.\n{{ knowledge }}\n");
  await page.getByRole("button", { name: "Create template" }).click();
  const alert = page.getByRole("alert").filter({ hasText: "unknown variable 'customer_nickname'" });
  await see(alert, "the 422 names the unknown variable");
  assert.match(await alert.innerText(), /Line 3/);
  await see(page.locator('[data-line="3"][data-error="true"]'), "the gutter marks line 3");
  await shot(page, ctx, "ai-prompt-error");
  // Insert the right variable with its chip, replacing the wrong one.
  await body.fill("You help the customers of {{ business_name }}.\nBe brief.\nGreet ");
  await page.getByRole("button", { name: /^Insert customer_name/ }).click();
  await body.press("End");
  await body.pressSequentially(" by name.\n");
  await page.getByRole("button", { name: /^Insert knowledge/ }).click();
  assert.match(await body.inputValue(), /Greet \{\{ customer_name \}\} by name\.\n\{\{ knowledge \}\}/);
  await page.getByRole("button", { name: "Create template" }).click();
  await see(page.getByText("Template “Short answers” saved"), "the fixed template saves");
  assert.equal(await page.locator('[data-error="true"]').count(), 0);
  await page.getByRole("button", { name: "Use for the AI" }).click();
  await see(page.getByText("The AI now uses this template"), "the template can be put in use");
  // Back to the default so the preview spec answers with the full prompt.
  await page.getByRole("listitem").filter({ hasText: "Default template" }).getByRole("button", { name: "Use" }).click();
  await see(page.getByText("The AI now uses the default template"), "the default can be put back");
}

/** The preview answers from the uploaded document, with the passage and the prompt. */
export async function previewAnswers(page, baseURL, ctx) {
  await page.goto(`${baseURL}/ai#preview`);
  await page.getByLabel("Customer message").fill("What are the opening hours of the shop on Saturday?");
  await page.getByRole("button", { name: "Ask" }).click();
  await see(page.getByTestId("preview-reply"), "the preview answers");
  assert.ok((await page.getByTestId("preview-reply").innerText()).trim().length > 0);
  if (ctx.documentName) {
    await see(page.getByTestId("preview-source").filter({ hasText: ctx.documentName }), "the passage used is shown");
  }
  await page.getByText("Rendered prompt").click();
  assert.match(await page.getByTestId("preview-prompt").innerText(), /<knowledge>/);
  await page.getByText("Rendered prompt").click(); // closed again, for the screenshot
  await shot(page, ctx, "ai-preview");
}

/** Customer messages on a sandbox number show up in the figures and the charts. */
export async function analyticsFigures(page, baseURL, ctx) {
  // Traffic first: a sandbox number and three customer questions (the AI answers them).
  const request = page.context().request;
  const created = await request.post(`${baseURL}/api/channels/whatsapp`, {
    data: { display_phone_number: "+1 555 0142" }, // a sandbox: the platform names it
  });
  assert.equal(created.status(), 201, await created.text());
  const channel = await created.json();
  const questions = ["When are you open on Saturday?", "Can I return a bike?", "I want to talk to a human"];
  for (const [i, text] of questions.entries()) {
    const r = await request.post(`${baseURL}/api/channels/${channel.id}/simulate`, {
      data: { from: `3161234567${i}`, name: `Customer ${i}`, text },
    });
    assert.equal(r.status(), 202, await r.text());
  }
  let last = null;
  await until(
    async () => {
      last = await (await request.get(`${baseURL}/api/analytics/summary`)).json();
      // The first-response time needs WhatsApp's "sent" for an answer, which comes a little later.
      return last.messages_in >= 3 && last.messages_out >= 3 && last.median_first_response_ms !== null;
    },
    "the responder counts the messages, its answers and their first-response time",
    120_000,
  ).catch((error) => {
    throw new Error(`${error.message}; last summary: ${JSON.stringify(last)}`);
  });

  await page.goto(`${baseURL}/analytics`);
  for (const id of ["fig-messages-in", "fig-messages-out", "fig-ai-replies", "fig-handoffs", "fig-cost"]) {
    await see(page.getByTestId(id), `figure ${id} shows`);
  }
  await until(async () => Number((await page.getByTestId("fig-messages-in").innerText()).replace(/,/g, "")) >= 3,
    "the page shows the three messages in");
  await see(page.getByRole("img", { name: "Messages per day" }), "the messages chart draws");
  // Live: one more customer message and the figure moves without a reload.
  const before = Number((await page.getByTestId("fig-messages-in").innerText()).replace(/,/g, ""));
  const more = await request.post(`${baseURL}/api/channels/${channel.id}/simulate`, {
    data: { from: "31612345679", name: "Late customer", text: "Do you sell helmets?" },
  });
  assert.equal(more.status(), 202, await more.text());
  await until(
    async () => Number((await page.getByTestId("fig-messages-in").innerText()).replace(/,/g, "")) > before,
    "the messages-in figure updates live",
  );
  await page.getByRole("button", { name: "7 days" }).click();
  await see(page.getByRole("button", { name: "7 days", pressed: true }), "a preset applies");
  const bars = page.getByRole("img", { name: "AI replies and handoffs per day" });
  await see(bars, "the replies chart draws");
  // 7 days, today included → 7 rows in the accessible table behind the chart, the last today's.
  const rows = page.locator("table", { hasText: "AI replies and handoffs per day" }).locator("tbody tr");
  await until(async () => (await rows.count()) === 7, "the 7-day range has 7 days");
  assert.equal(await rows.last().locator("th").innerText(), new Date().toISOString().slice(0, 10));
  // First-response time per day: today's median is there (the AI answered within seconds).
  const responses = page.locator("table", { hasText: "First response time (median" }).locator("tbody tr");
  await until(async () => (await responses.count()) === 7, "the first-response chart has 7 days");
  assert.match(await responses.last().innerText(), /\d+(\.\d)? (ms|s)/);
  // The tooltip follows the keyboard.
  await page.getByRole("img", { name: "Messages per day" }).focus();
  await page.keyboard.press("End");
  await see(page.getByRole("status").filter({ hasText: new Date().toISOString().slice(0, 10) }), "the tooltip shows today");
  await shot(page, ctx, "analytics-range");
  const range = page.getByRole("form", { name: "Date range" });
  await range.getByLabel("From", { exact: true }).fill("2026-01-10");
  await range.getByLabel("To", { exact: true }).fill("2026-01-01");
  await range.getByRole("button", { name: "Apply" }).click();
  await see(page.getByText("“From” must be on or before “to”."), "a reversed range is refused");
}

/** An owner adds an agent, sees them listed, and removes them. */
export async function teamAddRemove(page, baseURL, ctx) {
  await page.goto(`${baseURL}/team`);
  await see(page.getByTestId("member-row"), "the owner is listed");
  const email = `agent-${Date.now()}@example.com`;
  const form = page.getByRole("form", { name: "Add a member" });
  await form.getByLabel("Name").fill("Rita Agent");
  await form.getByLabel("Email").fill(email);
  await form.getByLabel("Password").fill("short");
  await form.getByRole("button", { name: "Add member" }).click();
  await see(form.getByText(/at least 8 characters/), "a short password is refused on its field");
  await form.getByLabel("Password").fill("a-long-password-1");
  await form.getByRole("button", { name: "Add member" }).click();
  const row = page.getByTestId("member-row").filter({ hasText: email });
  await see(row, "the new agent is listed");
  assert.match(await row.innerText(), /agent/);
  await shot(page, ctx, "team");
  // The agent signs in elsewhere and sees the team, the numbers and the AI settings read-only.
  const agentContext = await page.context().browser().newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const login = await agentContext.request.post(`${baseURL}/session/login`, {
      data: { email, password: "a-long-password-1" },
    });
    assert.equal(login.status(), 200, await login.text());
    const agent = await agentContext.newPage();
    await agent.goto(`${baseURL}/team`);
    await see(agent.getByTestId("member-row").filter({ hasText: "(you)" }), "the agent sees the team");
    assert.equal(await agent.getByRole("form", { name: "Add a member" }).count(), 0);
    assert.equal(await agent.getByRole("button", { name: /^Remove / }).count(), 0);
    await agent.goto(`${baseURL}/channels`);
    await see(agent.getByRole("heading", { name: "Connected numbers" }), "the agent sees the channels");
    assert.equal(await agent.getByRole("form", { name: "Connect a number" }).count(), 0);
    await agent.goto(`${baseURL}/ai`);
    await see(agent.getByText("Only owners and admins can change these."), "the agent sees the settings read-only");
    assert.ok(await agent.getByLabel("Temperature").isDisabled());
  } finally {
    await agentContext.close();
  }
  await row.getByRole("button", { name: "Remove Rita Agent" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Remove" }).click();
  await row.waitFor({ state: "detached", timeout: TIMEOUT });
}

/** Connect a sandbox number in one click, see it listed, disconnect it. */
export async function channelSandbox(page, baseURL, ctx) {
  await page.goto(`${baseURL}/channels`);
  await see(page.getByRole("heading", { name: "Connect a number" }), "the channels page loads");
  await page.getByLabel("Display number (optional)").fill("+1 555 0199");
  await page.getByRole("button", { name: "Create a sandbox number" }).click();
  const row = page.getByTestId("channel-row").filter({ hasText: "+1 555 0199" });
  await see(row, "the sandbox number is listed");
  assert.match(await row.innerText(), /Sandbox/);
  // A live number without a token is refused by the API on its field.
  await page.getByRole("radio", { name: /WhatsApp Cloud API/ }).check();
  await page.getByLabel("Phone number ID", { exact: true }).fill("bad id with spaces");
  await page.getByLabel("Access token", { exact: true }).fill("EAAG-test");
  await page.getByRole("button", { name: "Connect number" }).click();
  await see(page.locator("#" + (await page.getByLabel("Phone number ID", { exact: true }).getAttribute("id")) + "-error"), "a bad id shows its 422");
  await shot(page, ctx, "channels");
  await row.getByRole("button", { name: /^Disconnect/ }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Disconnect" }).click();
  await row.waitFor({ state: "detached", timeout: TIMEOUT });
}

// --- issue 14: the support team's settings, channel templates, the contact page ----------

/** Labels: create two (a swatch, then the colour picker), a duplicate is refused on its field,
 * one is deleted; the analytics page counts the one left. */
export async function settingsLabels(page, baseURL) {
  await page.goto(`${baseURL}/settings`);
  await see(page.getByRole("heading", { name: "Inbox settings" }), "the settings page loads");
  const form = page.getByRole("form", { name: "New label" });
  await form.getByLabel("Name").fill("Refund");
  await form.getByRole("button", { name: "Colour #dc2626" }).click();
  await form.getByRole("button", { name: "Create label" }).click();
  const refund = page.getByTestId("label-row").filter({ hasText: "Refund" });
  await see(refund, "the new label is listed");
  assert.match(await refund.innerText(), /0 conversations/);
  const swatch = await refund.locator("span[aria-hidden]").first().evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.equal(swatch, "rgb(220, 38, 38)", "the swatch has the chosen colour");
  await form.getByLabel("Name").fill("VIP");
  await form.getByLabel("Any colour").fill("#7c3aed");
  await form.getByRole("button", { name: "Create label" }).click();
  await see(page.getByTestId("label-row").filter({ hasText: "VIP" }), "the second label is listed");
  await form.getByLabel("Name").fill("Refund");
  await form.getByRole("button", { name: "Create label" }).click();
  await see(form.getByRole("alert"), "a duplicate name is refused on its field (409)");
  await refund.getByRole("button", { name: "Delete label Refund" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
  await refund.waitFor({ state: "detached", timeout: TIMEOUT });
  const listed = await (await page.context().request.get(`${baseURL}/api/labels`)).json();
  assert.deepEqual(listed.items.map((l) => [l.name, l.color]), [["VIP", "#7c3aed"]]);
  await page.goto(`${baseURL}/analytics`);
  const count = page.getByTestId("label-count-row").filter({ hasText: "VIP" });
  await see(count, "analytics lists the label's count");
  assert.match(await count.innerText(), /VIP\s+0/);
  assert.equal(await page.getByTestId("label-count-row").count(), 1);
  // No rating was collected: the CSAT figure is a dash (also while the responder has no route).
  await see(page.getByTestId("fig-csat"), "the CSAT figure shows");
  assert.equal(await page.getByTestId("fig-csat").innerText(), "—");
}

/** Canned replies: a bad shortcut shows its 422; create one with a variable button; edit it. */
export async function settingsCanned(page, baseURL, ctx) {
  await page.goto(`${baseURL}/settings`);
  const form = page.getByRole("form", { name: "New canned reply" });
  await see(form, "the canned-reply form shows");
  await form.getByLabel("Shortcut").fill("opening hours");
  await form.getByLabel("Text").fill("Hi ");
  await form.getByRole("button", { name: "Create reply" }).click();
  await see(form.getByText(/Lowercase letters, digits/), "a shortcut with a space is refused on its field");
  await form.getByLabel("Shortcut").fill("hours");
  await form.getByLabel("Text").click();
  await page.keyboard.press("End");
  await form.getByRole("button", { name: "{{customer_name}}" }).click();
  await form.getByLabel("Text").press("End");
  await form.getByLabel("Text").pressSequentially(", we open at 9.");
  assert.equal(await form.getByLabel("Text").inputValue(), "Hi {{customer_name}}, we open at 9.");
  await form.getByRole("button", { name: "Create reply" }).click();
  const row = page.getByTestId("canned-row").filter({ hasText: "/hours" });
  await see(row, "the reply is listed");
  assert.match(await row.innerText(), /Hi \{\{customer_name\}\}, we open at 9\./);
  await row.getByRole("button", { name: "Edit /hours" }).click();
  const editing = page.getByRole("form", { name: "Edit canned reply" });
  await see(editing, "the reply opens for editing");
  assert.equal(await editing.getByLabel("Shortcut").inputValue(), "hours");
  await editing.getByLabel("Text").fill("We open at 9, {{customer_name}}. — {{agent_name}}");
  await editing.getByRole("button", { name: "Save reply" }).click();
  await see(page.getByTestId("canned-row").filter({ hasText: "— {{agent_name}}" }), "the edited text is listed");
  const listed = await (await page.context().request.get(`${baseURL}/api/canned-replies`)).json();
  assert.deepEqual(
    listed.items.map((r) => [r.shortcut, r.text]),
    [["hours", "We open at 9, {{customer_name}}. — {{agent_name}}"]],
  );
  await shot(page, ctx, "inbox-settings");
}

/** Round-robin: switched on, saved, still on after a reload (and in the API). */
export async function settingsRoundRobin(page, baseURL) {
  await page.goto(`${baseURL}/settings`);
  const toggle = page.getByRole("checkbox", { name: /Round-robin assignment/ });
  await see(toggle, "the round-robin switch shows");
  assert.equal(await toggle.isChecked(), false, "off by default");
  await toggle.check();
  await see(page.getByRole("status").filter({ hasText: "Round-robin assignment on" }), "the change is saved");
  const saved = await (await page.context().request.get(`${baseURL}/api/inbox/settings`)).json();
  assert.deepEqual(saved, { round_robin: true });
  await page.reload();
  await see(toggle, "the switch shows again");
  await until(async () => toggle.isChecked(), "still on after a reload");
}

/** Business hours: a time zone, Monday's two intervals, Sunday closed, a holiday, the
 * auto-reply and the handoff choice, saved and shown again after a reload (and in the API).
 * A bad interval is refused next to its day: by the form's own check, and with the
 * responder's 422 when one gets past it. */
export async function settingsBusinessHours(page, baseURL, ctx) {
  const request = page.context().request;
  // A new business is open all day every day (the responder's default).
  const initial = await (await request.get(`${baseURL}/api/business-hours`)).json();
  assert.deepEqual(initial.weekly.tue, [["00:00", "24:00"]]);
  assert.equal(initial.outside_hours, "answer");
  await page.goto(`${baseURL}/settings`);
  const form = page.getByRole("form", { name: "Business hours" });
  await see(form, "the business-hours form shows");
  await form.getByLabel("Time zone").selectOption("Europe/Lisbon");
  const monday = form.getByTestId("hours-mon");
  await monday.getByRole("button", { name: /^Remove Monday / }).click();
  await see(monday.getByText("Closed"), "Monday has no hours left");
  await form.getByRole("button", { name: "Add hours on Monday" }).click();
  assert.equal(await monday.getByLabel("Monday opens (interval 1)").inputValue(), "09:00");
  await monday.getByLabel("Monday closes (interval 1)").fill("12:30");
  await form.getByRole("button", { name: "Add hours on Monday" }).click();
  const opens2 = monday.getByLabel("Monday opens (interval 2)");
  const closes2 = monday.getByLabel("Monday closes (interval 2)");
  await opens2.fill("14:00");
  await closes2.fill("13:00");
  const sunday = form.getByTestId("hours-sun");
  await sunday.getByRole("button", { name: /^Remove Sunday / }).click();
  await see(sunday.getByText("Closed"), "Sunday is closed");
  await form.getByLabel("Add a holiday").fill("2026-12-25");
  await form.getByRole("button", { name: "Add", exact: true }).click();
  await see(form.getByRole("list", { name: "Holidays" }).getByText("2026-12-25"), "the holiday is listed");
  await form.getByLabel("Auto-reply outside business hours").fill("We are closed now. We answer from 9:00, Lisbon time.");
  await form.getByRole("radio", { name: /Hands off to the team/ }).check();

  // 14:00–13:00 is refused next to Monday before anything is sent.
  const puts = [];
  const onRequest = (r) => {
    if (r.method() === "PUT" && new URL(r.url()).pathname === "/api/business-hours") puts.push(r);
  };
  page.on("request", onRequest);
  await form.getByRole("button", { name: "Save business hours" }).click();
  await see(monday.getByRole("alert").filter({ hasText: "the start must be before the end" }), "the form refuses 14:00–13:00 on Monday");
  assert.equal(await closes2.getAttribute("aria-invalid"), "true");
  assert.equal(puts.length, 0, "nothing is sent while the form knows it is wrong");
  await closes2.fill("18:00");

  // The responder's own 422 goes next to its day too: the request is rewritten on its way
  // (Wednesday's hours made to overlap) so the real API refuses what the form let through.
  const rewrite = async (route) => {
    const body = JSON.parse(route.request().postData() ?? "{}");
    body.weekly.wed = [["09:00", "13:00"], ["12:00", "17:00"]];
    await route.continue({ postData: JSON.stringify(body) });
  };
  const isHours = (url) => url.pathname === "/api/business-hours";
  await page.route(isHours, (route) => (route.request().method() === "PUT" ? rewrite(route) : route.continue()));
  await form.getByRole("button", { name: "Save business hours" }).click();
  const wednesday = form.getByTestId("hours-wed");
  const refused = wednesday.getByRole("alert");
  await see(refused, "the API's 422 shows next to Wednesday");
  assert.match(await refused.innerText(), /09:00-13:00 and 12:00-17:00 overlap/);
  assert.equal(await monday.getByRole("alert").count(), 0, "only Wednesday is marked");
  await page.unroute(isHours);
  const unchanged = await (await request.get(`${baseURL}/api/business-hours`)).json();
  assert.deepEqual(unchanged, initial, "a refused save changes nothing");
  assert.equal(puts.length, 1);
  page.off("request", onRequest);

  await form.getByRole("button", { name: "Save business hours" }).click();
  await see(page.getByText("Business hours saved"), "the hours are saved");
  await form.evaluate((el) => el.scrollIntoView({ block: "start" })); // the week in the picture
  await shot(page, ctx, "settings-business-hours");
  const expected = {
    timezone: "Europe/Lisbon",
    weekly: {
      mon: [["09:00", "12:30"], ["14:00", "18:00"]],
      tue: [["00:00", "24:00"]],
      wed: [["00:00", "24:00"]],
      thu: [["00:00", "24:00"]],
      fri: [["00:00", "24:00"]],
      sat: [["00:00", "24:00"]],
      sun: [],
    },
    holidays: ["2026-12-25"],
    auto_reply: "We are closed now. We answer from 9:00, Lisbon time.",
    outside_hours: "handoff",
  };
  assert.deepEqual(await (await request.get(`${baseURL}/api/business-hours`)).json(), expected);

  await page.reload();
  await see(form, "the form shows again");
  assert.equal(await form.getByLabel("Time zone").inputValue(), "Europe/Lisbon");
  assert.equal(await monday.getByLabel("Monday closes (interval 1)").inputValue(), "12:30");
  assert.equal(await monday.getByLabel("Monday opens (interval 2)").inputValue(), "14:00");
  assert.equal(await monday.getByLabel("Monday closes (interval 2)").inputValue(), "18:00");
  await see(sunday.getByText("Closed"), "Sunday is still closed");
  await see(form.getByRole("list", { name: "Holidays" }).getByText("2026-12-25"), "the holiday is still listed");
  assert.equal(await form.getByLabel("Auto-reply outside business hours").inputValue(), expected.auto_reply);
  assert.equal(await form.getByRole("radio", { name: /Hands off to the team/ }).isChecked(), true);
}

/** CSAT: switched on with a question (an empty one is refused on its field), the template
 * picked from the live number's APPROVED templates, saved, shown again after a reload. */
export async function settingsCsat(page, baseURL, ctx) {
  const pnid = process.env.TEMPLATES_PNID;
  const waba = process.env.TEMPLATES_WABA_ID;
  const token = process.env.GRAPH_TOKEN;
  if (!pnid || !waba || !token) {
    throw new Error("needs TEMPLATES_PNID, TEMPLATES_WABA_ID and GRAPH_TOKEN (tests/e2e/test_dashboard.py sets them)");
  }
  const request = page.context().request;
  // The live number the channel spec connected; run alone (ONLY=csat), connected here.
  const channels = await (await request.get(`${baseURL}/api/channels`)).json();
  if (!channels.items.some((c) => c.phone_number_id === pnid)) {
    const r = await request.post(`${baseURL}/api/channels/whatsapp`, {
      data: { phone_number_id: pnid, waba_id: waba, access_token: token, display_phone_number: "+1 555 0177" },
    });
    assert.equal(r.status(), 201, await r.text());
  }
  await page.goto(`${baseURL}/settings`);
  const form = page.getByRole("form", { name: "CSAT" });
  await see(form, "the CSAT form shows");
  const enabled = form.getByRole("checkbox", { name: /Ask for a rating on resolve/ });
  assert.equal(await enabled.isChecked(), false, "off for a new business");
  await enabled.check();
  const question = form.getByLabel("Question");
  await question.fill("");
  await form.getByRole("button", { name: "Save CSAT" }).click();
  await see(form.getByText("Write the question customers are asked."), "an empty question is refused on its field");
  await question.fill("How did Lumen Bikes do today?");
  const template = form.getByLabel("Template outside the 24-hour window");
  // order_ready is approved; summer_sale is pending and not offered.
  await until(async () => (await template.locator("option").count()) === 2, "the approved template is offered");
  assert.deepEqual(await template.locator("option").allInnerTexts(), ["No template (ask only inside the window)", "order_ready"]);
  await template.selectOption("order_ready");
  await form.getByRole("button", { name: "Save CSAT" }).click();
  await see(page.getByText("CSAT settings saved"), "the CSAT settings are saved");
  assert.deepEqual(await (await request.get(`${baseURL}/api/csat`)).json(), {
    enabled: true,
    question: "How did Lumen Bikes do today?",
    template_name: "order_ready",
  });
  await form.evaluate((el) => el.scrollIntoView({ block: "center" }));
  await shot(page, ctx, "settings-csat");
  // What failed while the page loads again, named in the error should the form not show.
  const failed = [];
  const onResponse = (r) => {
    if (r.status() >= 400) failed.push(`${r.request().method()} ${new URL(r.url()).pathname} → ${r.status()}`);
  };
  page.on("response", onResponse);
  await page.reload();
  await see(form, "the form shows again").catch(async (error) => {
    const card = await page.locator("main").innerText().catch(() => "");
    throw new Error(`${error.message}; failed calls: ${failed.join(", ") || "none"}; page: ${card.slice(-600)}`);
  });
  page.off("response", onResponse);
  await until(async () => enabled.isChecked(), "still on after a reload");
  assert.equal(await question.inputValue(), "How did Lumen Bikes do today?");
  assert.equal(await template.inputValue(), "order_ready");
}

/** A live number's templates: listed when it connects (read from Meta), synced on demand,
 * one chosen as the re-engagement template and sent automatically. */
export async function channelTemplates(page, baseURL, ctx) {
  const pnid = process.env.TEMPLATES_PNID;
  const waba = process.env.TEMPLATES_WABA_ID;
  const token = process.env.GRAPH_TOKEN;
  if (!pnid || !waba || !token) {
    throw new Error("needs TEMPLATES_PNID, TEMPLATES_WABA_ID and GRAPH_TOKEN (tests/e2e/test_dashboard.py sets them)");
  }
  await page.goto(`${baseURL}/channels`);
  await page.getByRole("radio", { name: /WhatsApp Cloud API/ }).check();
  await page.getByLabel("Phone number ID", { exact: true }).fill(pnid);
  await page.getByLabel("Display number", { exact: true }).fill("+1 555 0177");
  await page.getByLabel("WhatsApp Business Account ID", { exact: true }).fill(waba);
  await page.getByLabel("Access token", { exact: true }).fill(token);
  await page.getByRole("button", { name: "Connect number" }).click();
  // Listed under the number Meta reports for it (the fake's), found by its id.
  const row = page.getByTestId("channel-row").filter({ hasText: pnid });
  await see(row, "the live number is listed");
  const ready = row.getByTestId("template-row").filter({ hasText: "order_ready" });
  await see(ready, "its templates were read from Meta on connect");
  assert.match(await ready.innerText(), /en_US/);
  assert.match(await ready.innerText(), /approved/);
  assert.match(await ready.innerText(), /Hi \{\{1\}\}, your order \{\{2\}\} is ready for pickup\./);
  const sale = row.getByTestId("template-row").filter({ hasText: "summer_sale" });
  assert.match(await sale.innerText(), /pending/);
  assert.match(await sale.innerText(), /marketing/);
  await row.getByRole("button", { name: "Sync templates" }).click();
  await see(page.getByRole("status").filter({ hasText: "2 templates synced from Meta" }), "a sync reads them again");
  // Only approved templates can reopen a window.
  const select = row.getByLabel("Re-engagement template");
  const options = await select.locator("option").allInnerTexts();
  assert.deepEqual(options, ["None", "order_ready · en_US"]);
  await select.selectOption({ label: "order_ready · en_US" });
  await row.getByRole("checkbox", { name: /Send it automatically/ }).check();
  await row.getByRole("button", { name: "Save re-engagement" }).click();
  await see(page.getByRole("status").filter({ hasText: "Re-engagement settings saved" }), "the choice is saved");
  await shot(page, ctx, "channel-templates");
  await page.reload();
  await see(row.getByTestId("template-row").first(), "the templates show again");
  await until(async () => (await row.getByRole("checkbox", { name: /Send it automatically/ }).isChecked()), "auto stays on");
  assert.equal(await row.getByLabel("Re-engagement template").locator("option:checked").innerText(), "order_ready · en_US");
  const channels = await (await page.context().request.get(`${baseURL}/api/channels`)).json();
  const live = channels.items.find((c) => c.phone_number_id === pnid);
  assert.deepEqual(live.reengagement_template, { name: "order_ready", language: "en_US" });
  assert.equal(live.auto_reengage, true);
}

/** The contact page of a customer from the analytics spec: profile, their conversation,
 * notes and attributes saved, the JSON export downloaded, then the contact erased. */
export async function contactPage(page, baseURL, ctx) {
  await page.goto(`${baseURL}/contacts`);
  const entry = page.getByTestId("contact-row").filter({ hasText: "Customer 1" });
  await see(entry, "the contacts list shows the customer");
  await entry.click();
  await see(page.getByTestId("contact-name").filter({ hasText: "Customer 1" }), "the contact page opens");
  const profile = page.getByTestId("contact-profile");
  assert.match(await profile.innerText(), /\+31612345671/);
  const conversation = page.getByTestId("contact-conversation");
  await see(conversation, "the contact's conversation is listed");
  assert.equal(await conversation.count(), 1, "only this contact's conversations");
  const id = page.url().split("/contacts/")[1];

  const form = page.getByRole("form", { name: "Contact notes" });
  await form.getByLabel("Notes").fill("Asked about returns twice.");
  await form.getByRole("button", { name: "Add attribute" }).click();
  await form.getByLabel("Attribute 1 name").fill("plan");
  await form.getByLabel("Attribute 1 value").fill("gold");
  await form.getByRole("button", { name: "Save" }).click();
  await see(page.getByRole("status").filter({ hasText: "Contact saved" }), "notes and attributes are saved");
  await page.reload();
  await see(form.getByLabel("Attribute 1 value"), "the attribute shows again");
  assert.equal(await form.getByLabel("Notes").inputValue(), "Asked about returns twice.");
  assert.equal(await form.getByLabel("Attribute 1 name").inputValue(), "plan");
  await shot(page, ctx, "contact");

  const [download] = await Promise.all([
    page.waitForEvent("download", { timeout: TIMEOUT }),
    page.getByRole("button", { name: "Export JSON" }).click(),
  ]);
  assert.equal(download.suggestedFilename(), "contact-31612345671.json");
  const { readFile } = await import("node:fs/promises");
  const exported = JSON.parse(await readFile(await download.path(), "utf8"));
  assert.equal(exported.contact.wa_id, "31612345671");
  assert.deepEqual(exported.contact.attributes, { plan: "gold" });
  assert.equal(exported.conversations.length, 1);
  assert.ok(exported.messages.some((m) => m.text === "Can I return a bike?"), "the export has their messages");

  await page.getByRole("button", { name: "Erase contact" }).click();
  const dialog = page.getByRole("dialog");
  await see(dialog.getByText(/cannot be undone/), "erasure asks first");
  await dialog.getByRole("button", { name: "Erase for good" }).click();
  await page.waitForURL(`${baseURL}/contacts`, { timeout: TIMEOUT });
  await see(page.getByTestId("contact-row").first(), "the list shows the other contacts");
  assert.equal(await page.getByTestId("contact-row").filter({ hasText: "Customer 1" }).count(), 0);
  const gone = await page.context().request.get(`${baseURL}/api/contacts/${id}`);
  assert.equal(gone.status(), 404);
  await page.goto(`${baseURL}/contacts/${id}`);
  await see(page.getByText("No such contact"), "an erased contact's page says so");
}

/** A failing service shows the error and a retry on each page; the retry recovers. */
export async function errorStatesRecover(page, baseURL) {
  const pages = [
    ["/knowledge", "/api/documents", "Could not load the documents"],
    ["/analytics", "/api/analytics/summary", "Could not load the analytics"],
    ["/team", "/api/team/members", "Could not load the team"],
    ["/channels", "/api/channels", "Could not load the channels"],
    ["/ai", "/api/ai/settings", "Could not load the AI settings"],
  ];
  for (const [path, api, title] of pages) {
    let failing = true;
    const matches = (url) => url.pathname === api;
    const handler = (route) =>
      failing
        ? route.fulfill({ status: 503, contentType: "application/json", body: '{"detail":"the service is restarting"}' })
        : route.continue();
    await page.route(matches, handler);
    try {
      await page.goto(`${baseURL}${path}`);
      const alert = page.getByRole("alert").filter({ hasText: title });
      await see(alert, `${path} shows its error`);
      assert.match(await alert.innerText(), /the service is restarting/);
      failing = false;
      await alert.getByRole("button", { name: "Try again" }).click();
      await alert.waitFor({ state: "detached", timeout: TIMEOUT });
    } finally {
      await page.unroute(matches, handler);
    }
  }
}

/** In order: later specs use what earlier ones made. */
export const SPECS = [
  ["knowledge: upload two files, see them indexed, search finds one", knowledgeUploadAndSearch],
  ["ai: a bad setting shows its 422 on the field", aiSettingsValidation],
  ["ai: a template error shows on its line", templateErrorOnItsLine],
  ["ai: the preview answers with its passages", previewAnswers],
  ["analytics: figures and charts", analyticsFigures],
  ["team: add and remove a member", teamAddRemove],
  ["channels: connect a sandbox number", channelSandbox],
  ["settings: labels created, refused twice, deleted, counted", settingsLabels],
  ["settings: a canned reply created with a variable and edited", settingsCanned],
  ["settings: round-robin switched on stays on", settingsRoundRobin],
  ["settings: business hours edited, a bad interval refused on its day, saved", settingsBusinessHours],
  ["channels: a live number's templates, sync, re-engagement", channelTemplates],
  ["settings: CSAT on, a question, an approved template, saved", settingsCsat],
  ["contacts: profile, conversations, notes, export, erase", contactPage],
  ["errors: each page shows a failing service and recovers", errorStatesRecover],
];
