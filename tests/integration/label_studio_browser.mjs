// Opens one Label Studio task page in headless Chromium (the Debian package, driven by
// playwright-core over the DevTools protocol), logged in through the session cookie, and checks
// that the production prediction is shown as the pre-annotation: the predicted choice is
// selected in the labeling interface. Writes a screenshot to $SCREENSHOT.
// Environment: LS_URL (task page), LS_BASE, LS_SESSION, LS_CSRF, SCREENSHOT, USER_DATA_DIR,
// EXPECT_CHOICE (the predicted class), EXPECT_MODEL (the model version), PLAYWRIGHT_CORE.
import os from "node:os";
import path from "node:path";

const core = process.env.PLAYWRIGHT_CORE ||
  path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"),
            "labelgate", "playwright", "node_modules", "playwright-core", "index.mjs");
const { chromium } = await import(core);

const context = await chromium.launchPersistentContext(process.env.USER_DATA_DIR, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1400, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = null;
try {
  await context.addCookies([
    { name: "sessionid", value: process.env.LS_SESSION, url: process.env.LS_BASE },
    { name: "csrftoken", value: process.env.LS_CSRF, url: process.env.LS_BASE },
  ]);
  const page = context.pages()[0] || await context.newPage();
  await page.goto(process.env.LS_URL, { waitUntil: "domcontentloaded", timeout: 120000 });
  const expected = process.env.EXPECT_CHOICE;
  // The labeling interface renders the choices; the pre-annotation selects the predicted one.
  await page.getByText(process.env.EXPECT_MODEL).first().waitFor({ timeout: 120000 });
  await page.locator("input[type=radio]").first().waitFor({ timeout: 120000 });
  await page.waitForTimeout(1500);
  // The selected choice: the text of the checked radio's label, e.g. "1[2]" (with a hotkey).
  const checked = await page.locator(`input[type=radio]:checked`).evaluateAll(
    (els) => els.map((e) => (e.closest("label")?.innerText || "").replace(/\[\d+\]$/, "").trim()));
  const text = await page.locator("body").innerText();
  await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  console.log(JSON.stringify({ checked, hasModel: text.includes(process.env.EXPECT_MODEL || "") }));
  if (!checked.includes(expected)) failed = `predicted choice ${expected} not selected: ${checked}`;
  else if (!text.includes(process.env.EXPECT_MODEL)) failed = "no prediction tab of the model";
} catch (err) {
  failed = String(err);
} finally {
  await context.close();
}
if (failed) {
  console.error(failed);
  process.exit(1);
}
