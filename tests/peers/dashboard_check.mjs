// The dashboard of `neuronaut serve` in real headless Chromium (puppeteer-core): the page loads
// under its CSP with no console error, page error or CSP violation, fetches nothing from outside
// the server, shows the data the API holds (a skill and a memory seeded through the CLI, the MCP
// servers, the model servers) in each of its views, and answers clicks and searches. A run is
// started with the page's Start button on the scripted model server (naut-scripted-llm): its
// steps (the model's answers, the game__send_message tool call, the observations) appear in the
// live view as they happen, more of them over time without a reload; the page's Stop button
// stops it, the page shows it stopped and the API agrees; the charts are then drawn with the
// run's model calls (coloured pixels on the canvases, not the "no data yet" state).
// A PNG of each view (and of the live run) is saved to the screenshot folder.
// Usage: node dashboard_check.mjs <neuronaut binary> <naut-scripted-llm binary> [screenshot folder]
// Exit: 0 passed, 1 failed (saying what), 77 skipped (chromium or puppeteer-core is absent).
// CHROMIUM overrides the browser (default /usr/bin/chromium); DASHBOARD_SCREENSHOTS is the
// screenshot folder when none is given (default: $TMPDIR/naut-dashboard-screenshots).
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { cleanupOnExit, runCheck, skip as skipCheck, startServe as spawnServe, stop } from "./serve_peer.mjs";

const kTimeoutMs = 120_000;
const kToken = "dashboard-check-token";
// The page is three small files compiled into the binary plus a few API answers; a framework or
// an inlined asset creeping in shows up here before it shows up for users on a slow link.
const kPageBudgetBytes = 100_000;

const binary = process.argv[2];
const scriptedLlm = process.argv[3];
const shots = path.resolve(process.argv[4] || process.env.DASHBOARD_SCREENSHOTS ||
                           path.join(os.tmpdir(), "naut-dashboard-screenshots"));
const chromium = process.env.CHROMIUM || "/usr/bin/chromium";

const skip = (why, how) => skipCheck("dashboard_check", why, how);
if (!binary || !scriptedLlm) {
  console.error("usage: node dashboard_check.mjs <neuronaut binary> <naut-scripted-llm binary> [screenshot folder]");
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
let llm = null;
let serveStderr = () => "";
let runPid = 0;  // the run serve started (its own process group), for the last resort
let browser = null;

// Runs one CLI command against the test's data home, so the dashboard has data to show.
function cli(...args) {
  execFileSync(binary, ["--home", home, ...args],
               { env, timeout: 30_000, stdio: ["ignore", "ignore", "pipe"] });
}

// Starts the scripted OpenAI-compatible server (src/llm/scripted_server.h) and resolves with its
// URL from its first stdout line. Like serve_test's SlowScript: the first answer sends /start to
// the game's bot, then every answer is a slow (400 ms) remark, so a run goes on until stopped.
function startScriptedLlm() {
  const script = path.join(home, "script.json");
  fs.writeFileSync(script, JSON.stringify({
    responses: [{ tool_calls: [{ id: "call_1", name: "game__send_message",
                                 arguments: { chat_id: "@dungeon_quest_bot", message: "/start" } }] }],
    default: { content: "Let me look at the chat again.", delay_ms: 400 },
  }));
  llm = spawn(scriptedLlm, ["--script", script], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  llm.stderr.on("data", (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    let stdout = "";
    llm.stdout.on("data", (d) => {
      stdout += d;
      const m = stdout.match(/^listening (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) resolve(m[1]);
      else if (stdout.includes("\n")) reject(new Error(`naut-scripted-llm's first line is not "listening": ${stdout}`));
    });
    llm.on("error", (e) => reject(new Error(`naut-scripted-llm did not start: ${e.message}`)));
    llm.on("exit", (code) => reject(new Error(`naut-scripted-llm exited (${code}) before listening: ${stderr}`)));
  });
}

// Starts serve on a free port and resolves with its base URL from the first stdout line.
function startServe(llmUrl) {
  const started = spawnServe(binary, ["--home", home, "serve", "--http", "127.0.0.1:0", "--token", kToken],
                             { ...env, LLM_BASE_URL: llmUrl, LLM_BACKEND: "openai" });
  serve = started.child;
  serveStderr = started.stderrTail;
  return started.url;
}

function killRun() {
  try { if (runPid) process.kill(-runPid, "SIGKILL"); } catch { /* already gone */ }
}

// Stops serve (which stops its run), the scripted server and the browser whatever happened;
// each step is bounded so cleanup never hangs.
async function cleanup() {
  if (browser) {
    const proc = browser.process();
    await Promise.race([browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 5_000))]);
    if (proc && proc.exitCode === null) proc.kill("SIGKILL");
    browser = null;
  }
  if (await stop(serve)) killRun();
  await stop(llm);
  fs.rmSync(home, { recursive: true, force: true });
}
// Last resort when node itself is ended: no serve or chromium is left behind.
cleanupOnExit("dashboard_check", cleanup, () => {
  if (serve && serve.exitCode === null) { serve.kill("SIGKILL"); killRun(); }
  if (llm && llm.exitCode === null) llm.kill("SIGKILL");
  const proc = browser && browser.process();
  if (proc && proc.exitCode === null) proc.kill("SIGKILL");
});

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

  const llmUrl = await startScriptedLlm();
  const base = await startServe(llmUrl);
  const origin = new URL(base).origin;
  browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    // CI runs as root, where Chromium's sandbox cannot start.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
    timeout: kTimeoutMs,
  });
  const page = await browser.newPage();
  // Generous: on a loaded 2-core CI machine a run takes a while to start and Chromium to draw.
  page.setDefaultTimeout(45_000);
  await page.setViewport({ width: 1200, height: 900 });
  fs.mkdirSync(shots, { recursive: true });
  const saved = [];
  async function screenshot(name) {
    const file = path.join(shots, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    saved.push(path.basename(file));
  }

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
  // The page aborts a run's event stream itself when it follows another one (an aborted stream
  // is not a failure the user sees); they are counted and reported.
  const abortedStreams = [];
  page.on("requestfailed", (r) => {
    const why = r.failure()?.errorText;
    if (why === "net::ERR_ABORTED" && /\/api\/runs\/[^/]+\/stream\?/.test(r.url())) abortedStreams.push(r.url());
    else problems.push(`request failed: ${r.url()} ${why}`);
  });
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

  const text = (sel) => page.$$eval(sel, (all) => all.map((e) => e.textContent).join(" | ") || "(absent)");
  // Waits until an element matching `sel` shows `want`, failing with what they show instead.
  async function expectText(sel, want, timeout = 45_000) {
    try {
      await page.waitForFunction(
        (s, w) => [...document.querySelectorAll(s)].some((e) => e.textContent.includes(w)),
        { timeout }, sel, want);
    } catch {
      throw new Error(`${sel} should show "${want}" but shows "${await text(sel)}"`);
    }
  }
  const count = (sel) => page.$$eval(sel, (all) => all.length);
  // Waits until at least `n` elements match `sel`.
  async function expectCount(sel, n, timeout = 45_000) {
    try {
      await page.waitForFunction((s, k) => document.querySelectorAll(s).length >= k, { timeout }, sel, n);
    } catch {
      const kinds = await page.$$eval("#steps li", (all) => all.map((e) => e.dataset.type).join(" "));
      throw new Error(`expected at least ${n} of ${sel}, the page shows ${await count(sel)}; steps: ${kinds}`);
    }
  }
  async function openTab(view) {
    await page.click(`nav a[data-view="${view}"]`);
    await page.waitForSelector(`#view-${view}`, { visible: true });
    const shown = await page.$$eval("section.view", (all) => all.filter((s) => !s.hidden).map((s) => s.id));
    if (shown.join() !== `view-${view}`) throw new Error(`after clicking ${view} the page shows ${shown}`);
  }

  // For each chart, the points it says it drew and its pixels in a colour (the series' colours;
  // the axes, labels and "no data yet" are grey) outside the legend, which is the series' names
  // in their colours at the top left of each series' column, 170 px apart from x = 56, on the
  // line at y = 22.
  const chartsDrawn = () => page.evaluate(() => {
    const out = {};
    for (const [sel, legends] of [["#chart-milestones", 1], ["#chart-tokens", 3], ["#chart-speed", 1]]) {
      const c = document.querySelector(sel);
      const { data } = c.getContext("2d").getImageData(0, 0, c.width, c.height);
      let coloured = 0;
      for (let y = 0; y < c.height; y++) {
        for (let x = 0; x < c.width; x++) {
          if (y < 28 && x < 56 + 170 * legends) continue;
          const i = 4 * (y * c.width + x);
          const [r, g, b, a] = data.slice(i, i + 4);
          if (a > 128 && Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured += 1;
        }
      }
      out[sel] = { points: Number(c.dataset.points), coloured };
    }
    return out;
  });

  const doc = await page.goto(`${base}/#token=${kToken}`, { waitUntil: "load", timeout: kTimeoutMs });
  if (doc.status() !== 200) throw new Error(`GET / answered ${doc.status()}`);
  const csp = doc.headers()["content-security-policy"] || "";
  if (!csp.includes("default-src 'self'")) throw new Error(`the page is served without its CSP: "${csp}"`);

  // Run view: the token was taken from the URL, and /api/runs answered (a new home has no runs).
  await expectText("#token-state", "token set");
  await expectText("#run-status", "no runs yet");
  if (!(await page.$eval("#stop-run", (e) => e.disabled))) throw new Error("Stop is enabled with no run to stop");
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
  await screenshot("skills");

  // Memory: the stats count the seeded fact (a stored skill is a memory too); typing a search
  // and pressing Enter finds the fact.
  await openTab("memory");
  await expectText("#memory-stats", "2 memories (fact 1, skill 1)");
  await page.type("#memory-query", "blacksmith swords");
  await page.keyboard.press("Enter");
  await expectText("#memory-hits", "The blacksmith in Oakvale");
  await screenshot("memory");

  // Health: the model servers, the configured MCP servers, and the MCP server serve itself offers.
  await openTab("health");
  await expectText("#llm", "backend openai");
  await expectText("#llm", "/v1: no model is served");
  await expectText("#mcp", "skills");
  await expectText("#server", "MCP at /mcp serving skills");
  await expectText("#llm", llmUrl);
  await screenshot("health");

  // Progress and charts: answered, and empty for a new home.
  await openTab("progress");
  await expectText("#milestones", "no milestones recorded for rpg");
  await openTab("charts");
  await page.waitForFunction(() => document.querySelector("#chart-milestones").dataset.points === "0");

  // A run started with the page's form, on the scripted model server. Its steps arrive over the
  // event stream while it runs: the page is never reloaded (the marker set now survives) and
  // the list grows while we watch.
  await openTab("run");
  await page.evaluate(() => { window.nautSamePage = true; });
  await page.type("#start-env", "rpg");
  await page.click("#start-run");
  await expectText("#steps li[data-type=run_start]", "on rpg");
  await expectText("#steps li[data-type=tool_call]", "game__send_message", 30_000);
  await expectText("#steps li[data-type=tool_call]", "@dungeon_quest_bot");
  await expectText("#steps li[data-type=prompt]", "observation");
  await expectText("#steps li[data-type=model_call] > pre", "Let me look at the chat again.", 30_000);
  await expectText("#run-status", "running");
  const runId = await page.$eval("#run-select", (e) => e.value);
  if (!runId || !(await text("#steps li[data-type=run_start]")).includes(runId)) {
    throw new Error(`the selected run "${runId}" is not the one the steps show: ${await text("#steps")}`);
  }
  const api = async (p, options = {}) => {
    const res = await fetch(`${base}${p}`, { ...options, headers: { Authorization: `Bearer ${kToken}` } });
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new Error(`${options.method || "GET"} ${p} answered ${res.status}: ${JSON.stringify(body)}`);
    return body;
  };  // What a stop that did not show tells: the page's message, what the API and the run's own
  // trace say, whether the run's process is alive and where its threads wait, serve's stderr.
  async function stopDiagnosis(id) {
    const out = [`page message: "${await text("#run-message")}"`];
    try {
      const runs = await api("/api/runs");
      out.push(`api: active ${JSON.stringify(runs.active)}, run ${JSON.stringify(runs.runs.find((r) => r.id === id))}`);
      const events = await api(`/api/runs/${encodeURIComponent(id)}/events?limit=10000`);
      out.push("trace ends: " + events.events.slice(-8).map((e) => `${e.time ?? ""} ${e.type}`).join(" | "));
    } catch (e) { out.push(`api: ${e.message}`); }
    if (runPid) {
      try {
        const state = fs.readFileSync(`/proc/${runPid}/status`, "utf8").match(/^State:.*$/m)?.[0];
        const waits = fs.readdirSync(`/proc/${runPid}/task`).map((t) => {
          const comm = fs.readFileSync(`/proc/${runPid}/task/${t}/comm`, "utf8").trim();
          const wchan = fs.readFileSync(`/proc/${runPid}/task/${t}/wchan`, "utf8").trim();
          return `${comm}:${wchan}`;
        });
        out.push(`run pid ${runPid}: ${state}; threads ${waits.join(" ")}`);
      } catch (e) { out.push(`run pid ${runPid}: not readable (${e.code || e.message})`); }
    }
    out.push("serve stderr ends:\n" + serveStderr());
    return out.join("\n");
  }

  runPid = (await api("/api/runs")).active?.pid || 0;
  const steps = await count("#steps li");
  const calls = await count("#steps li[data-type=model_call]");
  await expectCount("#steps li[data-type=model_call]", Math.max(calls + 2, 3));
  if ((await count("#steps li")) <= steps) throw new Error(`the steps did not grow past ${steps}`);
  if (!(await page.evaluate(() => window.nautSamePage))) throw new Error("the page was reloaded");
  if ((await count("#steps li[data-type=run_start]")) !== 1) {
    throw new Error(`the run's start is shown ${await count("#steps li[data-type=run_start]")} times`);
  }
  await screenshot("run-live");

  // Stop from the page: the page shows the run stopped (the status, the run's end step, the
  // run list, a disabled Stop), and the API agrees.
  await page.waitForSelector("#stop-run:not([disabled])");
  await page.click("#stop-run");
  try {
    await expectText("#steps li[data-type=run_end]", "stopped", 30_000);
  } catch (err) {
    throw new Error(`${err.message}\n${await stopDiagnosis(runId)}`);
  }
  await expectText("#run-status", "stopped", 10_000);
  await expectText(`#run-select option[value="${runId}"]`, "stopped");
  if (!(await page.$eval("#stop-run", (e) => e.disabled))) throw new Error("Stop is still enabled after the run ended");
  const run = await api(`/api/runs/${encodeURIComponent(runId)}`);
  if (run.status !== "stopped") throw new Error(`the page shows the run stopped, the API says ${run.status}`);
  await screenshot("run-stopped");

  // Charts: the run's milestone and model calls drawn. Each canvas says how many points it
  // drew, and has pixels in the series' colours outside the legend (the empty state is grey
  // text only).
  await openTab("charts");
  await page.waitForFunction(() => Number(document.querySelector("#chart-milestones").dataset.points) >= 2 &&
    ["#chart-tokens", "#chart-speed"].every((s) => Number(document.querySelector(s).dataset.points) >= 3));
  const drawn = await chartsDrawn();
  for (const [sel, d] of Object.entries(drawn)) {
    if (d.coloured < 20) throw new Error(`${sel} says ${d.points} points but has ${d.coloured} coloured pixels`);
  }
  await screenshot("charts");
  await openTab("progress");
  await screenshot("progress");

  // Late console errors (e.g. a failed refresh) count as much as early ones.
  await new Promise((r) => setTimeout(r, 500));
  if (problems.length) throw new Error(problems.join("\n  "));
  if (firstLoad.bytes > kPageBudgetBytes) {
    throw new Error(`the first load transferred ${firstLoad.bytes} bytes; the budget is ${kPageBudgetBytes}`);
  }
  console.log(`dashboard_check: page weight: ${firstLoad.bytes} bytes transferred in ` +
              `${firstLoad.responses} responses on first load ` +
              `(${bytes} bytes in ${responses} after visiting every view)`);
  console.log(`dashboard_check: the page aborted ${abortedStreams.length} event stream(s) it replaced`);
  console.log(`dashboard_check: charts: ${JSON.stringify(drawn)} (points, coloured pixels)`);
  console.log("dashboard_check: ok: six views, a run started, followed live and stopped from the page, " +
              "charts drawn, no console/page error, no CSP violation, no outside request");
  console.log(`dashboard_check: screenshots (${saved.join(", ")}) in ${shots}`);
}

await runCheck("dashboard_check", check, kTimeoutMs, cleanup);
