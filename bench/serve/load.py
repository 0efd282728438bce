#!/usr/bin/env python3
"""Concurrent streaming clients against an OpenAI-compatible server (standard library only).

    load.py BASE_URL --clients N --requests R --max-tokens T [--prompt TEXT] [--json]

Each of N clients sends R streamed /v1/chat/completions requests one after another (greedy,
ignore_eos so every answer has T tokens). Reports, over the whole run: aggregate generated
tokens per second (all clients' completion tokens / wall time from first send to last
byte), and time to first token (request sent to first content delta) per request.
"""
import argparse
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse


def one_request(base, prompt, max_tokens):
    u = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    body = json.dumps({
        "model": "bench",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    })
    t0 = time.monotonic()
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:300]!r}")
    ttft = None
    tokens = 0
    buf = b""
    while True:
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(1)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            if not event.startswith(b"data: "):
                continue
            data = event[6:]
            if data == b"[DONE]":
                continue
            j = json.loads(data)
            if j.get("usage"):
                tokens = j["usage"].get("completion_tokens", tokens)
            for ch in j.get("choices", []):
                if ttft is None and (ch.get("delta") or {}).get("content"):
                    ttft = time.monotonic() - t0
    conn.close()
    return ttft if ttft is not None else time.monotonic() - t0, tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--requests", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--prompt", default="Write a Python function that sorts a list of numbers.")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    results, errors = [], []
    lock = threading.Lock()

    def client(i):
        for r in range(a.requests):
            try:
                # Each client its own prompt, so that no two share a cached answer.
                res = one_request(a.base, f"[client {i}, request {r}] {a.prompt}", a.max_tokens)
                with lock:
                    results.append(res)
            except Exception as e:  # noqa: BLE001 - reported, counted
                with lock:
                    errors.append(str(e))

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    tokens = sum(t for _, t in results)
    ttfts = [f for f, _ in results]
    out = {
        "clients": a.clients,
        "requests": len(results),
        "errors": len(errors),
        "tokens": tokens,
        "wall_s": round(wall, 3),
        "tokens_per_s": round(tokens / wall, 2) if wall > 0 else 0,
        "ttft_ms_median": round(statistics.median(ttfts) * 1000, 1) if ttfts else None,
        "ttft_ms_max": round(max(ttfts) * 1000, 1) if ttfts else None,
    }
    if errors:
        out["first_error"] = errors[0]
    print(json.dumps(out) if a.json else out)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
