// What the peer checks against `neuronaut serve` share (dashboard_check.mjs,
// openai_client_check.mjs): starting serve as a child, stopping children, cleaning up on exit and
// signals, and running the check against a timeout with the exit status ctest reads
// (0 passed, 1 failed, 77 skipped).
import { spawn } from "node:child_process";

// Says why `name` is skipped and how to install what is missing, then exits 77 (ctest's
// SKIP_RETURN_CODE), so an absent optional dependency is a skip, not a failure.
export function skip(name, why, how) {
  console.log(`${name}: skipped: ${why}\n  install: ${how}`);
  process.exit(77);
}

// Starts `binary args` (a `serve --http 127.0.0.1:0` command, so the port is free) with `env` and
// returns the child at once (for cleanup) and a promise of serve's base URL, read from its first
// stdout line; the promise is rejected when that line is something else or serve exits first.
export function startServe(binary, args, env) {
  const child = spawn(binary, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr += d; });
  const url = new Promise((resolve, reject) => {
    let stdout = "";
    child.stdout.on("data", (d) => {
      stdout += d;
      const m = stdout.match(/^neuronaut: serve listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) resolve(m[1]);
      else if (stdout.includes("\n")) reject(new Error(`serve's first line is not "listening": ${stdout}`));
    });
    child.on("exit", (code) => reject(new Error(`serve exited (${code}) before listening: ${stderr}`)));
    // A binary that cannot be started (wrong path, not executable) is a failure that says so,
    // not node's unhandled 'error' event.
    child.on("error", (e) => reject(new Error(`cannot start ${binary}: ${e.message}`)));
  });
  // The end of serve's stderr, for a failure's message.
  const stderrTail = (lines = 15) => stderr.trimEnd().split("\n").slice(-lines).join("\n");
  return { child, url, stderrTail };
}

// Stops a child with SIGTERM, then SIGKILL after 5 s, so cleanup never hangs; true when it had to
// be killed (serve's runs may then be left behind).
export async function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return false;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
  if (child.exitCode !== null || child.signalCode !== null) return false;
  child.kill("SIGKILL");
  return true;
}

// Installs the last resorts when node itself is ended, so no child is left behind: `killLeft`
// (synchronous: SIGKILL what still runs) on exit, and on SIGINT/SIGTERM a message, `cleanup` and
// exit 1.
export function cleanupOnExit(name, cleanup, killLeft) {
  process.on("exit", killLeft);
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.on(sig, () => {
      console.error(`${name}: stopped by ${sig}`);
      cleanup().finally(() => process.exit(1));
    });
  }
}

// Runs `check` against a timeout of `timeoutMs`, prints `<name>: FAILED: <why>` when it throws or
// times out, always runs `cleanup`, and exits 0 (passed) or 1 (failed).
export async function runCheck(name, check, timeoutMs, cleanup) {
  let status = 0;
  let timer;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs / 1000} s`)), timeoutMs);
      }),
    ]);
  } catch (e) {
    console.error(`${name}: FAILED: ${e.message}`);
    status = 1;
  } finally {
    clearTimeout(timer);
    await cleanup();
  }
  process.exit(status);
}
