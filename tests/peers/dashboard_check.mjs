// The dashboard of `neuronaut serve` in real headless Chromium (puppeteer-core): the page loads
// under its CSP with no console error, page error or CSP violation, fetches nothing from outside
// the server, shows the data the API holds (a skill and a memory seeded through the CLI, the MCP
// servers, the model servers) in each of its views, and answers clicks and searches.
// Usage: node dashboard_check.mjs <neuronaut binary>
// Exit: 0 passed, 1 failed (saying what), 77 skipped (chromium or puppeteer-core is absent).
// CHROMIUM overrides the browser (default /usr/bin/chromium).
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const kTimeoutMs = 60_000;
const kToken = "dashboard-check-token";
// The page is three small files compiled into the binary plus a few API answers; a framework or
// an inlined asset creeping in shows up here before it shows up for users on a slow link.
const kPageBudgetBytes = 100_000;

const binary = process.argv[2];
const chromium = process.env.CHROMIUM || "/usr/bin/chromium";

function skip(why, how) {
  console.log(`dashboard_check: skipped: ${why}\n  install: ${how}`);
  process.exit(77);
}
if (!binary) {
  console.error("usage: node dashboard_check.mjs <neuronaut binary>");
  process.exit(1);
}
try {
  fs.accessSync(chromium, fs.constants.X_OK);
} catch {
  skip(`${chromium} is absent`, "apt-get install -y chromium (scripts/setup.sh installs it)");
}
let puppeteer;
try {
  puppeteer = (await import("puppeteer-core")).default;
} catch {
  skip("tests/peers/node_modules/puppeteer-core is absent",
       "scripts/setup.sh --no-build (or: cd tests/peers && npm ci)");
}

const home = fs.mkdtempSync(path.join(os.tmpdir(), "naut-dashboard-"));
const env = { ...process.env, NEURONAUT_HOME: home };
let serve = null;
let browser = null;

// Runs one CLI command against the test's data home, so the dashboard has data to show.
function cli(...args) {
  execFileSync(binary, ["--home", home, ...args],
               { env, timeout: 30_000, stdio: ["ignore", "ignore", "pipe"] });
}

// Starts serve on a free port and resolves with its base URL from the first stdout line.
function startServe() {
  serve = spawn(binary, ["--home", home, "serve", "--http", "127.0.0.1:0", "--token", kToken],
                { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  serve.stderr.on("data", (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    let stdout = "";
    serve.stdout.on("data", (d) => {
      stdout += d;
      const m = stdout.match(/^neuronaut: serve listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) resolve(m[1]);
      else if (stdout.includes("\n")) reject(new Error(`serve's first line is not "listening": ${stdout}`));
    });
    serve.on("exit", (code) => reject(new Error(`serve exited (${code}) before listening: ${stderr}`)));
  });
}

// Stops serve and the browser whatever happened; each step is bounded so cleanup never hangs.
async function cleanup() {
  if (browser) {
    const proc = browser.process();
    await Promise.race([browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 5_000))]);
    if (proc && proc.exitCode === null) proc.kill("SIGKILL");
    browser = null;
  }
  if (serve && serve.exitCode === null && serve.signalCode === null) {
    const exited = new Promise((r) => serve.once("exit", r));
    serve.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    if (serve.exitCode === null && serve.signalCode === null) serve.kill("SIGKILL");
  }
  fs.rmSync(home, { recursive: true, force: true });
}
// Last resort when node itself is ended: no serve or chromium is left behind.
process.on("exit", () => {
  if (serve && serve.exitCode === null) serve.kill("SIGKILL");
  const proc = browser && browser.process();
  if (proc && proc.exitCode === null) proc.kill("SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    console.error(`dashboard_check: stopped by ${sig}`);
    cleanup().finally(() => process.exit(1));
  });
}

async function check() {
  fs.writeFileSync(path.join(home, "add_gold.py"), [
    "def add_gold(purse: int, found: int = 5):",
    '    """Add the gold found on a hunt to the purse and return the new total."""',
    "    return purse + found",
    "",
  ].join("\n"));
  cli("skills", "add", path.join(home, "add_gold.py"), "--env", "rpg");
  cli("memory", "add", "The blacksmith in Oakvale repairs swords for twenty gold",
      "--kind", "fact", "--env", "rpg");

  const base = await startServe();
  const origin = new URL(base).origin;
  browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    // CI runs as root, where Chromium's sandbox cannot start.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
    timeout: kTimeoutMs,
  });
  const page = await browser.newPage();
  page.setDefaultTimeout(15_000);

  // Everything the page does that a user would call broken.
  const problems = [];
  page.on("console", (m) => {
    if (m.text().includes("Content Security Policy")) problems.push(`CSP violation (console): ${m.text()}`);
    else if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => {
    if (new URL(r.url()).origin !== origin) problems.push(`request outside the server: ${r.url()}`);
  });
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  await page.exposeFunction("nautCspViolation", (v) => problems.push(`CSP violation: ${v}`));
  await page.evaluateOnNewDocument(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      window.nautCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
    });
  });
  // Transferred bytes (headers and bodies as sent) of every response, from the DevTools protocol.
  const cdp = await page.createCDPSession();
  await cdp.send("Network.enable");
  let bytes = 0, responses = 0;
  cdp.on("Network.loadingFinished", (e) => { bytes += e.encodedDataLength; responses += 1; });

  const text = (sel) => page.$eval(sel, (e) => e.textContent).catch(() => "(absent)");
  // Waits until `sel` shows `want`, failing with what it shows instead.
  async function expectText(sel, want) {
    try {
      await page.waitForFunction((s, w) => document.querySelector(s)?.textContent.includes(w), {}, sel, want);
    } catch {
      throw new Error(`${sel} should show "${want}" but shows "${await text(sel)}"`);
    }
  }
  async function openTab(view) {
    await page.click(`nav a[data-view="${view}"]`);
    await page.waitForSelector(`#view-${view}`, { visible: true });
    const shown = await page.$$eval("section.view", (all) => all.filter((s) => !s.hidden).map((s) => s.id));
    if (shown.join() !== `view-${view}`) throw new Error(`after clicking ${view} the page shows ${shown}`);
  }

  const doc = await page.goto(`${base}/#token=${kToken}`, { waitUntil: "load", timeout: kTimeoutMs });
  if (doc.status() !== 200) throw new Error(`GET / answered ${doc.status()}`);
  const csp = doc.headers()["content-security-policy"] || "";
  if (!csp.includes("default-src 'self'")) throw new Error(`the page is served without its CSP: "${csp}"`);

  // Run view: the token was taken from the URL, and /api/runs answered (a new home has no runs).
  await expectText("#token-state", "token set");
  await expectText("#run-status", "no runs yet");
  if (page.url() !== `${base}/#run`) throw new Error(`the token stays in the URL: ${page.url()}`);
  const firstLoad = { bytes, responses };

  // Skills: the seeded skill is listed; clicking it shows its highlighted code; search finds it.
  await openTab("skills");
  await expectText('#skills tr[data-skill="add_gold"]', "rpg");
  await page.click('#skills tr[data-skill="add_gold"]');
  await expectText("#skill-detail h2", "add_gold");
  await expectText("#skill-detail", "Add the gold found on a hunt");
  const keywords = await page.$$eval("#skill-code .tok-kw", (all) => all.map((e) => e.textContent));
  if (!keywords.includes("def")) throw new Error(`the skill's code is not highlighted: keywords ${keywords}`);
  await page.type("#skill-query", "gold purse");
  await page.click("#skill-search");
  await expectText("#skills tbody", "add_gold");

  // Memory: the stats count the seeded fact (a stored skill is a memory too); typing a search
  // and pressing Enter finds the fact.
  await openTab("memory");
  await expectText("#memory-stats", "2 memories (fact 1, skill 1)");
  await page.type("#memory-query", "blacksmith swords");
  await page.keyboard.press("Enter");
  await expectText("#memory-hits", "The blacksmith in Oakvale");

  // Health: the model servers, the configured MCP servers, and the MCP server serve itself offers.
  await openTab("health");
  await expectText("#llm", "backend openai");
  await expectText("#llm", "/v1: no model is served");
  await expectText("#mcp", "skills");
  await expectText("#server", "MCP at /mcp serving skills");

  // Progress and charts: answered, and empty for a new home.
  await openTab("progress");
  await expectText("#milestones", "no milestones recorded for rpg");
  await openTab("charts");
  await page.waitForFunction(() => document.querySelector("#chart-milestones").dataset.points === "0");

  // Late console errors (e.g. a failed refresh) count as much as early ones.
  await new Promise((r) => setTimeout(r, 500));
  if (problems.length) throw new Error(problems.join("\n  "));
  if (firstLoad.bytes > kPageBudgetBytes) {
    throw new Error(`the first load transferred ${firstLoad.bytes} bytes; the budget is ${kPageBudgetBytes}`);
  }
  console.log(`dashboard_check: page weight: ${firstLoad.bytes} bytes transferred in ` +
              `${firstLoad.responses} responses on first load ` +
              `(${bytes} bytes in ${responses} after visiting every view)`);
  console.log("dashboard_check: ok: six views, no console/page error, no CSP violation, no outside request");
}

let status = 0;
let timer;
try {
  await Promise.race([
    check(),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${kTimeoutMs / 1000} s`)), kTimeoutMs);
    }),
  ]);
} catch (e) {
  console.error(`dashboard_check: FAILED: ${e.message}`);
  status = 1;
} finally {
  clearTimeout(timer);
  await cleanup();
}
process.exit(status);
