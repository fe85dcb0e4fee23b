// The product's story in the browser: a business signs up, connects a sandbox number,
// uploads a document, a customer asks (simulator) and the AI's answer appears live in the
// inbox, a person takes over and replies, analytics move, and the inbox works on a phone.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** axe-core's WCAG 2 A and AA rules find nothing on the page as it is now. */
export async function accessible(page, what) {
  await page.addScriptTag({ content: AXE });
  const violations = await page.evaluate(async () =>
    (await window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa"] })).violations.map(
      (v) => `${v.id}: ${v.help} (${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")})`,
    ),
  );
  if (violations.length) throw new Error(`accessibility of ${what}:\n  ${violations.join("\n  ")}`);
}

const T = 45_000;
const CUSTOMER = "351911222333";
const POLICY = [
  "# Padaria Lúcia — delivery and returns",
  "",
  "## Delivery",
  "We deliver on Sundays between 9am and 1pm in the city centre.",
  "Delivery costs 3 euros and is free above 30 euros.",
  "",
  "## Returns",
  "Unopened products can be returned within 14 days with the receipt.",
].join("\n");

async function see(locator, what, timeout = T) {
  try {
    await locator.first().waitFor({ state: "visible", timeout });
  } catch (error) {
    throw new Error(`expected to see ${what}: ${error.message.split("\n")[0]}`);
  }
}

async function gone(locator, what, timeout = T) {
  try {
    await locator.first().waitFor({ state: "hidden", timeout });
  } catch (error) {
    throw new Error(`expected ${what} to go away: ${error.message.split("\n")[0]}`);
  }
}

/** Sign-up in the UI; a business with no number lands on the guided setup. */
async function signUpLandsOnOnboarding(page, baseURL, ctx) {
  await page.goto(`${baseURL}/inbox`);
  await page.waitForURL(/\/login\?next=%2Finbox/); // no session: to the login page
  await ctx.shot("login");
  await accessible(page, "the login page");
  await page.getByRole("link", { name: "Create an account" }).click();
  await see(page.getByRole("heading", { name: "Create your business account" }), "the sign-up form");
  ctx.email = `lucia-${Date.now()}@e2e.example`;
  await page.getByLabel("Business name").fill("Padaria Lúcia");
  await page.getByLabel("Your name").fill("Lúcia Ferreira");
  await page.getByLabel("Email").fill(ctx.email);
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  // The browser's own check (minlength) or the API's 422 keeps us on the form.
  assert.match(page.url(), /\/signup/);
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL(/\/onboarding$/, { timeout: T });
  await see(page.getByTestId("business-name").filter({ hasText: "Padaria Lúcia" }), "the business name in the shell");
  // The token is in an httpOnly cookie that page scripts cannot read.
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === "wa_session");
  assert.ok(session, "the session cookie is set");
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Lax");
  assert.equal(await page.evaluate(() => document.cookie.includes("wa_session")), false);
}

async function onboardingConnectsAndIndexes(page, baseURL, ctx) {
  await see(page.getByTestId("step-1"), "step 1");
  await page.getByRole("button", { name: "Use a sandbox number" }).click();
  await see(page.locator('[data-testid="step-1"][data-done="true"]'), "step 1 done");
  await see(page.getByRole("list", { name: "Connected numbers" }).getByText("sandbox"), "the sandbox number listed");
  await page.locator("#first-document").setInputFiles({
    name: "delivery-policy.md",
    mimeType: "text/markdown",
    buffer: Buffer.from(POLICY),
  });
  const row = page.getByTestId("onboarding-document").filter({ hasText: "delivery-policy.md" });
  await see(row, "the uploaded document");
  await see(row.locator('[data-status="indexed"]'), "the document indexed", 90_000);
  await see(page.locator('[data-testid="step-2"][data-done="true"]'), "step 2 done");
  await ctx.shot("onboarding");
  await accessible(page, "onboarding");
}

/** The customer writes from the simulator; the inbox (another tab) shows it and the AI's answer live. */
async function aiAnswerAppearsLiveInInbox(page, baseURL, ctx) {
  const inbox = await page.context().newPage();
  ctx.inbox = inbox;
  await inbox.goto(`${baseURL}/inbox`);
  await see(inbox.getByText("No conversations yet"), "an empty inbox");
  await inbox.evaluate(() => {
    window.__sameDocument = true; // gone if the page reloads
  });

  await page.getByRole("link", { name: "Open the simulator" }).click();
  await page.waitForURL(/\/simulator$/);
  await page.getByLabel("Customer's WhatsApp number").fill(CUSTOMER);
  await page.getByLabel("Customer's name").fill("Inês");
  await page.getByLabel("Message as the customer").fill("Olá! Do you deliver on Sundays?");
  await page.getByRole("button", { name: "Send as the customer" }).click();
  // The simulator's own inbox pane and phone show the AI's answer.
  await see(page.getByTestId("phone-in").filter({ hasText: /Sunday/i }), "the AI's answer on the phone");
  await see(page.getByTestId("conversation-view").locator('[data-author="ai"]'), "the AI's answer in the simulator's inbox pane");
  await ctx.shot("simulator");
  await accessible(page, "the simulator");

  // Meanwhile the inbox tab got the conversation without a reload.
  const item = inbox.getByTestId("conversation-item").filter({ hasText: "Inês" });
  await see(item, "the new conversation in the inbox list, live");
  await see(item.getByText(/Sunday/i), "the last message preview");
  await item.click();
  await inbox.waitForURL(/\/inbox\/[0-9a-f-]+$/);
  ctx.conversationUrl = inbox.url();
  const view = inbox.getByTestId("conversation-view");
  await see(view.locator('[data-author="customer"]').filter({ hasText: "Do you deliver on Sundays?" }), "the question");
  await see(view.locator('[data-author="ai"]'), "the AI's answer");
  const before = await view.locator('[data-author="ai"]').count();

  // A second question arrives while the conversation is open: it and its answer appear live.
  await page.getByLabel("Message as the customer").fill("How much does delivery cost?");
  await page.getByRole("button", { name: "Send as the customer" }).click();
  await see(view.locator('[data-author="customer"]').filter({ hasText: "How much does delivery cost?" }), "the second question, live");
  await inbox.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="conversation-view"] [data-author="ai"]').length > n,
    before,
    { timeout: T },
  );
  assert.equal(await inbox.evaluate(() => window.__sameDocument), true, "the inbox never reloaded");

  // Delivery ticks on the AI's messages, and the passages it used on click.
  const lastAi = view.locator('[data-author="ai"]').last();
  await see(lastAi.locator("[data-status]"), "a delivery tick on the AI's reply");
  await lastAi.getByTestId("ai-badge").click();
  const dialog = inbox.getByRole("dialog", { name: "What the AI answered from" });
  await see(dialog, "the sources dialog");
  const sources = dialog.getByTestId("sources");
  await see(sources.getByText(/delivery-policy\.md/), "the document among the sources");
  await see(sources.getByText(/Delivery costs 3 euros/), "the passage itself");
  await ctx.shot("conversation-sources", inbox);
  await dialog.getByRole("button", { name: "Close" }).click();
  await gone(dialog, "the dialog");
  await ctx.shot("inbox", inbox);
  await accessible(inbox, "the inbox and a conversation");
}

/** A person takes over: the AI stays quiet, the reply goes out and reaches the customer's phone. */
async function takeOverAndReplyByHand(page, baseURL, ctx) {
  const inbox = ctx.inbox;
  const view = inbox.getByTestId("conversation-view");
  await see(view.getByTestId("window-status").filter({ hasText: "Reply window open" }), "the open 24-hour window");
  await view.getByRole("button", { name: "Take over" }).click();
  await see(view.getByTestId("ai-state").filter({ hasText: "You're answering" }), "the takeover");
  await see(view.getByRole("button", { name: "Hand back to AI" }), "the hand-back button");

  await inbox.getByLabel("Your reply").fill("Hi Inês, this is Lúcia: I'll bring your order myself on Sunday at 10.");
  await inbox.getByRole("button", { name: "Send reply" }).click();
  const mine = view.locator('[data-author="agent"]').filter({ hasText: "I'll bring your order myself" });
  await see(mine, "the agent's reply in the conversation");
  await see(mine.locator('[data-status]:not([data-status="queued"])'), "the reply leaving the queue");
  await see(page.getByTestId("phone-in").filter({ hasText: "I'll bring your order myself" }), "the reply on the customer's phone");

  // The customer answers: with the AI off, no AI reply follows.
  const aiBefore = await view.locator('[data-author="ai"]').count();
  await page.getByLabel("Message as the customer").fill("Perfect, thank you!");
  await page.getByRole("button", { name: "Send as the customer" }).click();
  await see(view.locator('[data-author="customer"]').filter({ hasText: "Perfect, thank you!" }), "the customer's thanks");
  await inbox.waitForTimeout(3000);
  assert.equal(await view.locator('[data-author="ai"]').count(), aiBefore, "the AI stays quiet after a takeover");

  // Resolve, then reopen.
  await view.getByRole("button", { name: "Resolve" }).click();
  await see(view.getByRole("button", { name: "Reopen" }), "the resolved conversation");
  await inbox.getByRole("group", { name: "Filter by status" }).getByRole("button", { name: "Resolved", exact: true }).click();
  await see(inbox.getByTestId("conversation-item").filter({ hasText: "Inês" }), "the conversation under Resolved");
  await inbox.getByRole("group", { name: "Filter by status" }).getByRole("button", { name: "Open", exact: true }).click();
  await see(inbox.getByText("No conversation matches"), "no open conversation");
  await view.getByRole("button", { name: "Reopen" }).click();
  await see(inbox.getByTestId("conversation-item").filter({ hasText: "Inês" }), "the reopened conversation under Open, live");
  await inbox.getByRole("group", { name: "Filter by status" }).getByRole("button", { name: "All", exact: true }).click();
  // Search.
  await inbox.getByLabel("Search conversations").fill("nobody-has-this-name");
  await see(inbox.getByText("No conversation matches"), "an empty search");
  await inbox.getByLabel("Search conversations").fill("Inês");
  await see(inbox.getByTestId("conversation-item").filter({ hasText: "Inês" }), "the search hit");
  await inbox.getByLabel("Search conversations").fill("");
}

/** The figures count what just happened. */
async function analyticsCountTheConversation(page, baseURL, ctx) {
  const from = new Date(Date.now() - 3600_000).toISOString();
  const to = new Date(Date.now() + 60_000).toISOString();
  const r = await page.request.get(
    `${baseURL}/api/analytics/summary?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
  );
  assert.equal(r.status(), 200, await r.text());
  const s = await r.json();
  assert.ok(s.messages_in >= 3, `messages_in ${s.messages_in}`);
  assert.ok(s.ai_replies >= 2, `ai_replies ${s.ai_replies}`);
  await page.goto(`${baseURL}/analytics`);
  await see(page.getByRole("heading", { name: "Analytics" }), "the analytics page");
  await page.waitForLoadState("networkidle");
  await ctx.shot("analytics");
}

/** 360 × 740: the list, then one conversation full-screen, the menu behind a button. */
async function phoneViewport(page, baseURL, ctx) {
  const phone = await ctx.browser.newContext({
    viewport: { width: 360, height: 740 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    storageState: await page.context().storageState(),
    locale: "en-GB",
    timezoneId: "UTC",
  });
  try {
    const p = await phone.newPage();
    await p.goto(`${baseURL}/inbox`);
    const item = p.getByTestId("conversation-item").filter({ hasText: "Inês" });
    await see(item, "the conversation list on a phone");
    assert.equal(await p.getByRole("navigation", { name: "Main" }).isVisible(), false, "no sidebar on a phone");
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no sideways scroll (overflow ${overflow}px)`);
    await ctx.shot("phone-inbox", p);
    await item.click();
    await see(p.getByTestId("conversation-view"), "the conversation on a phone");
    assert.equal(await p.getByTestId("conversation-list").isVisible(), false, "the list makes room");
    await see(p.getByLabel("Your reply"), "the reply box");
    const overflow2 = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow2 <= 0, `no sideways scroll in the conversation (overflow ${overflow2}px)`);
    await ctx.shot("phone-conversation", p);
    await accessible(p, "a conversation on a phone");
    await p.getByRole("link", { name: "Back to conversations" }).click();
    await see(p.getByTestId("conversation-list"), "the list again");
    await p.getByRole("button", { name: "Open menu" }).click();
    const menu = p.getByRole("dialog", { name: "Menu" });
    await see(menu.getByRole("link", { name: "Knowledge" }), "the menu on a phone");
    await menu.getByRole("link", { name: "Simulator" }).click();
    await p.waitForURL(/\/simulator$/);
    await gone(p.getByRole("dialog", { name: "Menu" }), "the menu after navigating");
  } finally {
    await phone.close();
  }
}

/** With SESSION_RENEW_BEFORE_S near the token's lifetime (the pytest run sets it), a token
 * a few seconds old is renewed by the next request, and the session carries on. */
async function sessionIsRenewed(page, baseURL) {
  if (!process.env.SESSION_RENEW_BEFORE_S) return;
  const token = async () => (await page.context().cookies()).find((c) => c.name === "wa_session")?.value;
  const before = await token();
  assert.ok(before, "signed in");
  await page.waitForTimeout(3100); // older than the 2 s the test allows, and a later `exp`
  // An API call does not renew it: one in flight at logout would bring the cookie back.
  const call = await page.request.get(`${baseURL}/api/auth/me`);
  assert.equal(call.status(), 200, await call.text());
  assert.ok(!/wa_session=/.test(call.headers()["set-cookie"] ?? ""), "an API call renewed the session");
  await page.goto(`${baseURL}/inbox`);
  await see(page.getByTestId("conversation-item"), "the inbox, still signed in");
  const after = await token();
  assert.ok(after && after !== before, "the proxy set a renewed token");
  const me = await page.request.get(`${baseURL}/api/auth/me`);
  assert.equal(me.status(), 200, "the renewed token works");
}

/** Log out: the cookie goes, and pages send you to the login page (and back after it). */
async function logoutAndBack(page, baseURL, ctx) {
  await ctx.inbox.close();
  await page.goto(`${baseURL}/inbox`);
  await page.getByRole("button", { name: "Log out" }).first().click();
  await page.waitForURL(/\/login$/);
  const cookies = await page.context().cookies();
  assert.equal(cookies.find((c) => c.name === "wa_session"), undefined, "the cookie is cleared");
  const api = await page.request.get(`${baseURL}/api/conversations`);
  assert.equal(api.status(), 401, "the API refuses without a session");
  await page.goto(`${baseURL}/simulator`);
  await page.waitForURL(/\/login\?next=%2Fsimulator$/);
  await page.getByLabel("Email").fill(ctx.email);
  await page.getByLabel("Password").fill("wrong password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await see(page.getByRole("alert").filter({ hasText: "Wrong email or password" }), "the wrong-password message");
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/simulator$/); // back where the user was going

  // Another site's form cannot sign the browser in (login CSRF).
  const cross = await page.request.post(`${baseURL}/session/login`, {
    headers: { origin: "https://evil.example" },
    data: { email: ctx.email, password: "correct horse battery" },
  });
  assert.equal(cross.status(), 403);
  const form = await page.request.post(`${baseURL}/session/login`, {
    headers: { "content-type": "text/plain" },
    data: JSON.stringify({ email: ctx.email, password: "correct horse battery" }),
  });
  assert.equal(form.status(), 415);

  // A token the services reject (forged here) ends on the login page, keeping where we were.
  const forged = `x.${Buffer.from(JSON.stringify({ exp: 4102444800 })).toString("base64url")}.x`;
  const url = new URL(baseURL);
  await page.context().addCookies([{ name: "wa_session", value: forged, domain: url.hostname, path: "/", httpOnly: true, sameSite: "Lax" }]);
  await page.goto(`${baseURL}/knowledge`);
  await page.waitForURL(/\/login\?next=%2Fknowledge$/);
}

export const SPECS = [
  signUpLandsOnOnboarding,
  onboardingConnectsAndIndexes,
  aiAnswerAppearsLiveInInbox,
  takeOverAndReplyByHand,
  analyticsCountTheConversation,
  phoneViewport,
  sessionIsRenewed,
  logoutAndBack,
];

/** 35 customers (AI off, so nothing answers): the list shows the newest 30, loads the rest
 * as it scrolls, and the unread badges count each customer's messages. */
async function inboxScrollsAndCountsUnread(page, baseURL) {
  const off = await page.request.put(`${baseURL}/api/ai/settings`, { data: { enabled: false } });
  assert.equal(off.status(), 200, await off.text());
  const channel = await page.request.post(`${baseURL}/api/channels/whatsapp`, {
    data: {}, // a sandbox: the platform names it
  });
  assert.equal(channel.status(), 201, await channel.text());
  const { id } = await channel.json();
  const simulate = (from, text) =>
    page.request.post(`${baseURL}/api/channels/${id}/simulate`, { data: { from, name: `Customer ${from.slice(-2)}`, text } });
  for (let i = 0; i < 35; i += 1) {
    const r = await simulate(`3519000000${String(i).padStart(2, "0")}`, `Question number ${i}`);
    assert.equal(r.status(), 202, await r.text());
  }
  // A second message a second later (timestamps are whole seconds): the newest, 2 unread.
  await page.waitForTimeout(1100);
  await simulate("351900000034", "And a second message");
  const deadline = Date.now() + T;
  for (;;) {
    const all = (await (await page.request.get(`${baseURL}/api/conversations?limit=200`)).json()).items;
    if (all.length === 35 && all.some((c) => c.unread_count === 2)) break;
    assert.ok(Date.now() < deadline, `35 conversations stored (${all.length})`);
    await page.waitForTimeout(300);
  }
  await page.goto(`${baseURL}/inbox`);
  const items = page.getByTestId("conversation-item");
  const newest = items.first();
  await see(newest.getByText("And a second message"), "the newest conversation first");
  await see(newest.getByLabel("2 unread"), "its unread badge");
  await see(items.nth(1).getByLabel("1 unread"), "one unread on the others");
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="conversation-item"]').length >= 30);
  const count = await items.count();
  assert.ok(count < 35, `one page at first (${count})`);
  await items.last().scrollIntoViewIfNeeded();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="conversation-item"]').length === 35, null, { timeout: T });
  const all = await page.$$eval('[data-testid="conversation-item"]', (els) => els.map((e) => e.getAttribute("href")));
  assert.equal(new Set(all).size, 35, "no conversation twice");
}

export const MORE = [["inbox: infinite scroll and unread badges", inboxScrollsAndCountsUnread]];

