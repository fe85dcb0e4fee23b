// Browser end-to-end tests: Debian's Chromium (/usr/bin/chromium) driven by playwright-core,
// headless, against a running dashboard whose services are real (tests/e2e/test_dashboard.py
// starts them all, builds and starts Next, then runs this file).
//
//   BASE_URL=http://127.0.0.1:3000 node e2e/run.mjs        # every spec
//   ONLY=inbox BASE_URL=… node e2e/run.mjs                   # specs whose name contains "inbox"
//   GROUP=main BASE_URL=… node e2e/run.mjs                   # one file's specs (main | pages)
//
// Spec files export `SPECS`: a list of `async (page, baseURL, ctx) => void` functions, or of
// `[name, fn]` pairs, that throw on failure (see e2e/README.md). main.mjs runs first in one browser context (it signs a business
// up through the UI); each other file gets a fresh business, signed up through /session/register.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { MORE as INBOX, SPECS as MAIN } from "./main.mjs";
import { SPECS as PAGES_B } from "./pages-b.mjs";
import { ENV as TEAM_ENV, SPECS as TEAM } from "./team.mjs";
import { ENV as WHATSAPP_ENV, SPECS as WHATSAPP } from "./whatsapp.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const baseURL = (process.env.BASE_URL ?? "http://127.0.0.1:3000").replace(/\/$/, "");
const only = process.env.ONLY ?? "";
const onlyGroup = process.env.GROUP ?? ""; // main | inbox | pages | whatsapp | team
const screenshots = process.env.SCREENSHOTS ?? path.resolve(here, "../../docs/screenshots");
const failures = path.resolve(process.env.FAILURES ?? "/tmp/dashboard-e2e-failures");
mkdirSync(screenshots, { recursive: true });
mkdirSync(failures, { recursive: true });

const GROUPS = [
  { name: "main", specs: MAIN, signUp: false },
  { name: "inbox", specs: INBOX, signUp: true },
  { name: "pages", specs: PAGES_B, signUp: true },
  // Needs the gateway and a fake Graph API: run by tests/e2e/test_dashboard.py.
  { name: "whatsapp", specs: WHATSAPP, signUp: true, env: WHATSAPP_ENV },
  // Two agents in two browser contexts, a live number of its own: also needs the fake Graph API.
  { name: "team", specs: TEAM, signUp: true, env: TEAM_ENV },
];

export const DESKTOP = { width: 1280, height: 800 };

async function signUpByApi(context) {
  const stamp = `${Date.now()}-${Math.random().toString(16).slice(2, 8)}`;
  const r = await context.request.post(`${baseURL}/session/register`, {
    data: {
      email: `owner-${stamp}@e2e.example`,
      password: "correct horse battery",
      name: "Olga Owner",
      business_name: `Lumen Bikes ${stamp.slice(-4)}`,
    },
  });
  if (r.status() !== 201) throw new Error(`sign-up failed: ${r.status()} ${await r.text()}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = 0;
let ran = 0;
const started = Date.now();
try {
  for (const group of GROUPS) {
    if (onlyGroup && group.name !== onlyGroup) continue;
    const missing = (group.env ?? []).filter((name) => !process.env[name]);
    if (missing.length) {
      console.log(`skip ${group.name}: needs ${missing.join(", ")}`);
      continue;
    }
    const specs = group.specs
      .map((s) => (Array.isArray(s) ? { name: s[0], run: s[1] } : { name: s.name, run: s }))
      .filter((s) => s.name.toLowerCase().includes(only.toLowerCase()));
    if (specs.length === 0) continue;
    const context = await browser.newContext({ viewport: DESKTOP, locale: "en-GB", timezoneId: "UTC" });
    context.setDefaultTimeout(30_000);
    const ctx = { browser, context, screenshots, shot: null };
    const page = await context.newPage();
    // Screenshots of the main screens, for the README.
    ctx.shot = (name, p = page) => p.screenshot({ path: path.join(screenshots, `${name}.png`) });
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    // Something the Content-Security-Policy blocked is a broken page, not noise.
    page.on("console", (m) => {
      if (m.type() === "error" && /Content Security Policy/i.test(m.text())) errors.push(m.text());
    });
    if (group.signUp) await signUpByApi(context);
    for (const spec of specs) {
      const t0 = Date.now();
      ran += 1;
      try {
        await spec.run(page, baseURL, ctx);
        console.log(`ok   ${group.name}/${spec.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (error) {
        failed += 1;
        const file = path.join(failures, `${spec.name.replace(/[^\w-]+/g, "_").slice(0, 60)}.png`);
        await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
        console.log(`FAIL ${group.name}/${spec.name} (${((Date.now() - t0) / 1000).toFixed(1)} s): ${error.stack ?? error}`);
        console.log(`     at ${page.url()}; screenshot ${file}`);
        if (["main", "whatsapp", "team"].includes(group.name)) break; // steps build on each other
      }
    }
    if (errors.length) {
      failed += 1;
      console.log(`FAIL ${group.name}: uncaught errors in the page:\n  ${errors.join("\n  ")}`);
    }
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(`${ran - failed}/${ran} specs passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed || ran === 0 ? 1 : 0);
