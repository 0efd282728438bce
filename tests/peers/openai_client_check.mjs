// The official openai npm client against `neuronaut serve --model` (the embedded engine at /v1)
// with the tiny model: the model list, a chat completion with usage, the same completion streamed
// (greedy, so the streamed text equals the whole answer), a text completion, two requests at once
// on the two slots, embeddings (the client's default base64 and plain floats, which must agree,
// unit length, different texts apart), and a malformed request refused as a 400 APIError.
// Usage: node openai_client_check.mjs <neuronaut binary> <model.gguf>
// Exit: 0 passed, 1 failed (saying what), 77 skipped (the model or the openai package is absent).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { cleanupOnExit, runCheck, skip as skipCheck, startServe as spawnServe, stop } from "./serve_peer.mjs";

const kTimeoutMs = 60_000;
const [binary, model] = process.argv.slice(2);

const skip = (why, how) => skipCheck("openai_client_check", why, how);
if (!binary || !model) {
  console.error("usage: node openai_client_check.mjs <neuronaut binary> <model.gguf>");
  process.exit(1);
}
if (!fs.existsSync(model)) {
  skip(`the tiny model ${model} is absent (../shared/conformance/models)`,
       "check out ../shared next to this repository");
}
let OpenAI;
try {
  OpenAI = (await import("openai")).default;
} catch {
  skip("tests/peers/node_modules/openai is absent",
       "scripts/setup.sh --no-build (or: cd tests/peers && npm ci)");
}

const home = fs.mkdtempSync(path.join(os.tmpdir(), "naut-openai-"));
let serve = null;

// Starts serve with the model on a free port and resolves with its base URL from the first line.
function startServe() {
  const started = spawnServe(binary, [
    "--home", home, "serve", "--http", "127.0.0.1:0", "--model", model,
    "--ctx-size", "256", "--threads", "1", "--parallel", "2",
    // The tiny model has no chat template: the prompt format comes from the config.
    "--set", "llm.chat_format=chatml"], { ...process.env, NEURONAUT_HOME: home });
  serve = started.child;
  return started.url;
}

async function waitForHealth(base) {
  let last = "";
  for (let i = 0; i < 300; i++) {
    try {
      const r = await fetch(`${base}/health`);
      if (r.status === 200) return;
      last = `${r.status} ${await r.text()}`;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`/health did not answer 200 (last: ${last}): the model did not load`);
}

// Stops serve whatever happened, bounded so cleanup never hangs.
async function cleanup() {
  await stop(serve);
  fs.rmSync(home, { recursive: true, force: true });
}
cleanupOnExit("openai_client_check", cleanup, () => {
  if (serve && serve.exitCode === null) serve.kill("SIGKILL");
});

function expect(ok, what, seen) {
  if (!ok) throw new Error(`${what}; got ${JSON.stringify(seen)}`);
}

async function check() {
  const base = await startServe();
  await waitForHealth(base);
  // No retries: a retried 5xx would hide a server error behind a later success.
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "x", maxRetries: 0, timeout: 30_000 });

  const models = await client.models.list();
  expect(models.data.length === 1, "models.list() should list the one served model", models.data);
  const name = models.data[0].id;
  expect(name === path.basename(model, ".gguf"), "the model's id should be its file name", name);

  const request = {
    model: name, messages: [{ role: "user", content: "Hello" }], max_tokens: 8, temperature: 0,
  };
  const chat = await client.chat.completions.create(request);
  const content = chat.choices[0]?.message?.content;
  expect(typeof content === "string" && content.length > 0, "the chat completion should have content", chat);
  const u = chat.usage;
  expect(u && u.prompt_tokens > 0 && u.completion_tokens > 0 && u.completion_tokens <= 8 &&
         u.total_tokens === u.prompt_tokens + u.completion_tokens, "the chat completion's usage", u);

  // Greedy decoding: the deltas of the same request streamed add up to the same answer.
  let streamed = "", chunks = 0, finish = null;
  const stream = await client.chat.completions.create({ ...request, stream: true });
  for await (const chunk of stream) {
    chunks += 1;
    const choice = chunk.choices[0];
    if (!choice) continue;
    streamed += choice.delta?.content ?? "";
    finish = choice.finish_reason ?? finish;
  }
  expect(streamed === content,
         `the streamed deltas should equal the answer ${JSON.stringify(content)}`, streamed);
  expect(chunks > 1 && finish !== null, "the stream should end with a finish_reason", { chunks, finish });

  const completion = await client.completions.create({
    model: name, prompt: "Once upon a time", max_tokens: 8, temperature: 0,
  });
  const text = completion.choices[0]?.text;
  expect(typeof text === "string" && text.length > 0 && completion.usage?.completion_tokens > 0,
         "completions.create should return text and usage", completion);

  // Two requests at once: --parallel 2 gives each a slot, and both complete.
  const both = await Promise.all(["Tell me a story", "What is gold?"].map((q) =>
    client.chat.completions.create({ ...request, messages: [{ role: "user", content: q }] })));
  for (const r of both) {
    expect(r.choices[0]?.message?.content?.length > 0 && r.usage?.completion_tokens > 0,
           "each of two concurrent chat completions should complete", r);
  }

  // Embeddings: the client asks for base64 unless told otherwise and decodes it; both forms
  // must carry the same unit vectors, one per input, and different texts must differ.
  const inputs = ["Once upon a time", "The dog ran home."];
  const e64 = await client.embeddings.create({ model: name, input: inputs });
  const eFloat = await client.embeddings.create({ model: name, input: inputs, encoding_format: "float" });
  expect(e64.data?.length === 2 && eFloat.data?.length === 2,
         "embeddings.create should answer one embedding per input", { e64, eFloat });
  const vec = (d) => Array.from(d.embedding);
  const [a, b] = e64.data.map(vec);
  const norm = Math.hypot(...a);
  expect(a.length > 0 && Math.abs(norm - 1) < 1e-4, "an embedding should be a unit vector", { length: a.length, norm });
  expect(JSON.stringify(a) === JSON.stringify(vec(eFloat.data[0])),
         "base64 and float embeddings should be the same numbers", { base64: a.slice(0, 4), float: vec(eFloat.data[0]).slice(0, 4) });
  const cosine = a.reduce((s, x, i) => s + x * b[i], 0);
  expect(cosine < 0.9999 && e64.usage?.prompt_tokens > 0,
         "two different texts should have different embeddings, and usage", { cosine, usage: e64.usage });

  // A malformed body is the client's fault: a 400 the client raises as an APIError.
  let refused = null;
  try {
    await client.chat.completions.create({ model: name, messages: "x", max_tokens: 8 });
  } catch (e) {
    refused = e;
  }
  expect(refused instanceof OpenAI.APIError && refused.status === 400,
         "messages: 'x' should be refused with an APIError of status 400",
         refused ? { status: refused.status, message: refused.message } : "no error");

  console.log(`openai_client_check: ok: ${name} listed; chat ${JSON.stringify(content)} ` +
              `(${u.prompt_tokens}+${u.completion_tokens} tokens) equals ${chunks} streamed chunks; ` +
              `completion ${JSON.stringify(text)}; two concurrent completions; embeddings of ${a.length} ` +
              `values (cosine of two texts ${cosine.toFixed(3)}); bad body -> 400 ` +
              `"${refused.message}"`);
}

await runCheck("openai_client_check", check, kTimeoutMs, cleanup);
