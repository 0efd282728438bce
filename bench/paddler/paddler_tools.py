#!/usr/bin/env python3
"""Helpers of bench/paddler/paddler.sh, each a subcommand (standard library only):

  desired-state MODEL CONTEXT TEMPERATURE   print Paddler's BalancerDesiredState as JSON
  wait-agents URL N SECONDS                 wait until the balancer at URL (management) has N
                                            agents with their model loaded; exit 1 after SECONDS
  busy-agents URL SECONDS                   watch the balancer at URL (management) until every
                                            agent has been seen processing a request; exit 1
                                            after SECONDS, naming the agents never seen busy
  record UPSTREAM PORT OUT.jsonl            an HTTP proxy on 127.0.0.1:PORT to UPSTREAM that
                                            appends each POST .../chat/completions body to OUT
  compat UPSTREAM PORT                      an HTTP proxy on 127.0.0.1:PORT to UPSTREAM (a Paddler
                                            balancer's OpenAI endpoint) that rewrites a recorded
                                            chat request into what Paddler 4.0.0 takes (see
                                            compat_request; NeuroNaut itself sends that form with
                                            [llm] tool_history = "text")
  check-run EVENTS.jsonl ENDPOINT MIN_CALLS  check an agent run's --json events: at least
                                            MIN_CALLS model calls answered by ENDPOINT, no call
                                            failed but for a context too long, a tool call of
                                            the model's ran, the run ended
  summarize RESULTS.jsonl                   mean ± sd of each setup's pool_replay figures as a
                                            markdown table
"""

import http.client
import http.server
import json
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request


def desired_state(model, context, temperature):
    # Paddler's defaults (InferenceParameters::default()) except the model, the context, the
    # temperature and an F16 KV cache (Paddler's default is Q8_0; llama-server's is F16, so
    # the two setups hold the same cache).
    print(json.dumps({
        "chat_template_override": None,
        "inference_parameters": {
            "n_batch": 2048, "context_size": int(context), "embedding_batch_size": 256,
            "enable_embeddings": False, "image_resize_to_fit": 1024,
            "k_cache_dtype": "F16", "v_cache_dtype": "F16", "min_p": 0.05, "n_gpu_layers": 0,
            "penalty_frequency": 0.0, "penalty_last_n": -1, "penalty_presence": 0.0,
            "penalty_repeat": 1.0, "pooling_type": "Last", "temperature": float(temperature),
            "top_k": 40, "top_p": 0.95,
        },
        "model": {"LocalToAgent": model},
        "multimodal_projection": "None",
        "use_chat_template_override": False,
    }))


def wait_agents(url, count, seconds):
    deadline = time.monotonic() + float(seconds)
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/api/v1/agents", timeout=5) as r:
                agents = json.load(r)["agents"]
            ready = [a for a in agents if a["model_path"] and a["slots_total"] > 0 and
                     a["slots_total"] == a["desired_slots_total"]]
            last = json.dumps(agents)
            if len(ready) >= int(count):
                print(f"{len(ready)} Paddler agents ready: " +
                      ", ".join(f"{a['name']} ({a['slots_total']} slots)" for a in ready))
                return 0
        except (OSError, ValueError, KeyError) as e:
            last = str(e)
        time.sleep(1)
    print(f"Paddler agents not ready in {seconds} s; the balancer's /api/v1/agents said: {last}",
          file=sys.stderr)
    return 1


def busy_agents(url, seconds):
    deadline = time.monotonic() + float(seconds)
    seen, names = set(), {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/api/v1/agents", timeout=5) as r:
                agents = json.load(r)["agents"]
        except (OSError, ValueError, KeyError):
            agents = []
        for a in agents:
            names[a["id"]] = a.get("name") or a["id"]
            if a.get("slots_processing", 0) > 0:
                seen.add(a["id"])
        if names and seen >= set(names):
            print("every Paddler agent served: " + ", ".join(sorted(names[i] for i in seen)))
            return 0
        time.sleep(0.05)
    idle = sorted(names[i] for i in set(names) - seen) or ["(no agent listed)"]
    print(f"Paddler agents never seen serving in {seconds} s: {', '.join(idle)}", file=sys.stderr)
    return 1


def record(upstream, port, out_path):
    proxy(upstream, port, out_path, False)


def compat(upstream, port):
    proxy(upstream, port, None, True)


def compat_request(request):
    """A chat request as Paddler 4.0.0's /v1/chat/completions takes it. Paddler reads each
    message's role and content only, refuses a null content (which OpenAI's API, and NeuroNaut,
    write for an assistant message that only calls tools) with HTTP 400, and caps an answer at
    max_completion_tokens (default 2000), not max_tokens. So an assistant message's tool calls
    become its text, in the <tool_call> form that Qwen's and Hermes' chat templates write them
    in (what llama-server's template rendering gives for the same message), and max_tokens is
    copied into max_completion_tokens."""
    for message in request.get("messages", []):
        calls = message.pop("tool_calls", None) or []
        text = message.get("content") or ""
        for call in calls:
            function = call.get("function", {})
            arguments = function.get("arguments", "{}")
            try:
                arguments = json.loads(arguments)
            except (TypeError, ValueError):
                pass
            text += ("\n" if text else "") + "<tool_call>\n" + json.dumps(
                {"name": function.get("name", ""), "arguments": arguments},
                ensure_ascii=False) + "\n</tool_call>"
        message["content"] = text
        message.pop("tool_call_id", None)
    if "max_tokens" in request:
        request["max_completion_tokens"] = request["max_tokens"]
    return request


def proxy(upstream, port, out_path, rewrite):
    target = urllib.parse.urlparse(upstream)
    lock = threading.Lock()

    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.command == "POST" and self.path.endswith("/chat/completions"):
                request = json.loads(body)
                if out_path:
                    with lock, open(out_path, "a") as f:
                        f.write(json.dumps(request, separators=(",", ":")) + "\n")
                if rewrite:
                    body = json.dumps(compat_request(request)).encode()
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=600)
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "connection", "content-length")}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            reply = conn.getresponse()
            data = reply.read()
            self.send_response(reply.status)
            for k, v in reply.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_POST = forward

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Proxy)
    server.serve_forever()


def check_run(events_path, endpoint, min_calls):
    events = []
    for line in open(events_path):
        try:
            events.append(json.loads(line))
        except ValueError:
            pass  # a line of the run's own text, not an event
    calls = [e for e in events if e.get("type") == "model_call"]
    answered = [c for c in calls if not c.get("error")]
    failed = [c["error"] for c in calls if c.get("error") and
              "context length exceeded" not in c["error"] and "cancelled" not in c["error"]]
    elsewhere = [c.get("endpoint") for c in answered if c.get("endpoint") != endpoint]
    ends = [e for e in events if e.get("type") == "run_end"]
    milestones = sorted({e.get("milestone") for e in events
                         if e.get("type") == "milestone_reached"} - {None})
    tool_calls = sum(1 for e in events if e.get("type") == "tool_call")
    # An action of the model's that ran: a tool call the game took (the model's answers were
    # valid tool calls, not text that merely came back).
    ran = sum(1 for e in events if e.get("type") == "tool_call" and not e.get("is_error"))
    print(f"the run: {len(calls)} model calls ({len(answered)} answered by {endpoint}), "
          f"{tool_calls} tool calls ({ran} ran without error), milestones {milestones or 'none'}, "
          f"end {ends[-1].get('status') if ends else 'missing'}")
    problems = []
    if len(answered) < int(min_calls):
        problems.append(f"only {len(answered)} model calls answered, {min_calls} wanted")
    if ran < 1:
        problems.append("no tool call of the model's ran")
    if elsewhere:
        problems.append(f"model calls answered by {sorted(set(map(str, elsewhere)))}, not Paddler")
    if failed:
        problems.append(f"model calls failed: {failed[:3]}")
    if not ends:
        problems.append("the run has no run_end event")
    for p in problems:
        print("FAIL: " + p, file=sys.stderr)
    return 1 if problems else 0


def summarize(results_path):
    runs = {}
    for line in open(results_path):
        r = json.loads(line)
        runs.setdefault(r["label"], []).append(r)

    def fmt(values, digits):
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"

    print("| setup | rounds | completed / asked | failed | completion tok/s | mean completion "
          "tokens | p50 latency s | p99 latency s | cached share of prompt tokens |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, rs in runs.items():
        print(f"| {label} | {len(rs)} | {fmt([r['completed'] for r in rs], 1)} / {rs[0]['requests']} "
              f"| {fmt([r['failed'] for r in rs], 1)} "
              f"| {fmt([r['completion_tokens_per_s'] for r in rs], 2)} "
              f"| {fmt([r['mean_completion_tokens'] for r in rs], 1)} "
              f"| {fmt([r['p50_ms'] / 1000 for r in rs], 1)} "
              f"| {fmt([r['p99_ms'] / 1000 for r in rs], 1)} "
              f"| {fmt([100 * r['cached_share'] for r in rs], 1)} % |")
    return 0


def main():
    command, args = sys.argv[1], sys.argv[2:]
    handlers = {"desired-state": desired_state, "wait-agents": wait_agents,
                "busy-agents": busy_agents, "record": record,
                "compat": compat,
                "check-run": check_run, "summarize": summarize}
    if command not in handlers:
        print(__doc__, file=sys.stderr)
        return 2
    return handlers[command](*args) or 0


if __name__ == "__main__":
    sys.exit(main())
