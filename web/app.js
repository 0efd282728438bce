// NeuroNaut dashboard: plain JavaScript, no outside resources (the server's CSP forbids them).
// Everything comes from this server's /api; the run's steps arrive over SSE (read with fetch,
// so that the token can travel in a header).
'use strict';

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')));
  return e;
};

// --- token: given once as #token=..., kept in this browser's localStorage ----------------------
(function takeToken() {
  const m = location.hash.match(/token=([A-Za-z0-9._~-]+)/);
  if (m) {
    localStorage.setItem('naut-token', m[1]);
    history.replaceState(null, '', location.pathname + '#run');
  }
})();
const token = () => localStorage.getItem('naut-token') || '';
const headers = (extra = {}) => (token() ? { ...extra, Authorization: 'Bearer ' + token() } : extra);

async function api(path, options = {}) {
  const res = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  let body = null;
  try { body = await res.json(); } catch (_) { body = null; }
  if (!res.ok) {
    const msg = body && body.error ? body.error.message : res.status + ' ' + res.statusText;
    throw new Error(msg);
  }
  return body;
}

// --- views -------------------------------------------------------------------------------------
const views = ['run', 'progress', 'skills', 'memory', 'charts', 'health'];
function showView() {
  const name = views.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'run';
  for (const v of views) $('#view-' + v).hidden = v !== name;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === name);
  ({ run: refreshRuns, progress: loadProgress, skills: loadSkills, memory: loadMemoryStats,
     charts: drawCharts, health: loadHealth })[name]();
}
window.addEventListener('hashchange', showView);

// --- the live run ------------------------------------------------------------------------------
let selectedRun = '';
let stream = null;  // AbortController of the open event stream
let runsCache = [];

function short(text, n) { text = String(text ?? ''); return text.length > n ? text.slice(0, n) + '…' : text; }
function args(a) { try { return JSON.stringify(a); } catch (_) { return String(a); } }

// One trace event as a step of the live view.
function stepOf(e) {
  const t = e.type;
  const li = el('li', { class: 'ev-' + t, 'data-type': t });
  const head = (kind, text) => { li.append(el('span', { class: 'time' }, (e.time || '').slice(11, 19)), el('span', { class: 'kind' }, kind), text); };
  const pre = (text) => li.append(el('pre', {}, text));
  switch (t) {
    case 'run_start': head('run', `${e.run_id} on ${e.env}${e.goal ? ' — goal: ' + e.goal : ''}`); break;
    case 'task_start': head('task', e.task); break;
    case 'task_paused': li.classList.add('bad'); head('task paused', `${e.task}: ${e.reason || ''}`); break;
    case 'tools': head('tools', `${e.count} tools offered`); break;
    case 'round': head('round', e.round); break;
    case 'prompt': head('observation', `${e.observation_chars} characters; skills offered: ${(e.skills || []).join(', ') || 'none'}`); break;
    case 'model_call':
      head('model', `${e.prompt_tokens ?? '?'} prompt (${e.cached_tokens ?? 0} cached) + ${e.completion_tokens ?? '?'} tokens, ${e.latency_ms} ms`);
      if (e.input) li.append(el('details', {}, el('summary', {}, 'what the model was shown'), el('pre', {}, e.input)));
      if (e.error) { li.classList.add('error'); pre(e.error); } else pre(e.content || '(tool call only)');
      break;
    case 'tool_call':
      head('tool', `${e.tool}(${short(args(e.arguments), 300)})${e.via ? ' via ' + e.via : ''} — ${e.is_error ? 'error' : 'ok'}, ${e.latency_ms} ms`);
      if (e.is_error) li.classList.add('error');
      break;
    case 'code_action': head('code', e.ok ? 'ran' : 'failed: ' + (e.error || '')); if (e.code) pre(e.code); if (!e.ok) li.classList.add('error'); break;
    case 'critic': li.classList.add(e.success ? 'ok' : 'bad'); head('critic', `${e.success ? 'success' : 'not yet'} (${e.source || ''}) ${e.critique || ''}`); break;
    case 'task_end': li.classList.add(e.success ? 'ok' : 'bad'); head('task end', `${e.success ? 'done' : 'failed'}: ${e.task} ${e.skill ? '— skill ' + e.skill : ''} ${e.reason || ''}`); break;
    case 'milestone_reached': head('milestone', `${e.milestone} after ${e.model_calls} model calls`); break;
    case 'skill':
      if (e.status === 'verified') li.classList.add('ok');
      if (e.status === 'draft') li.classList.add('bad');
      head('skill', `${e.status || ''} ${e.name || ''} ${e.reason || e.check || e.unverified || ''}`);
      break;
    case 'skill_check': li.classList.add(e.passed ? 'ok' : 'bad'); head('skill check', `${e.name} ${e.passed ? 'passed' : 'failed'}: ${e.note || ''}`); break;
    case 'reflection':
      head('reflection', e.status === 'done' ? `${e.episodes} episodes replayed (${e.why}); ${(e.lessons || []).length} new lessons` : `failed (${e.why}): ${e.reason || ''}`);
      for (const l of e.lessons || []) pre(l);
      break;
    case 'consolidation':
      if (e.merged) li.classList.add('ok'); else if (e.refused) li.classList.add('bad');
      head(e.kind === 'split' ? 'split' : 'consolidation', `${(e.sources || []).join(', ')}: ${e.merged ? (e.kind === 'split' ? 'split into ' : 'merged into ') + e.merged : 'refused: ' + (e.refused || '')}`);
      for (const c of e.checks || []) pre(`${c.passed ? '✓' : '✗'} ${c.call} for "${c.task}": ${c.note || ''}`);
      break;
    case 'knowledge':
      if (e.status === 'unavailable' || e.status === 'failed') li.classList.add('bad');
      head('knowledge', e.status === 'stored' ? `${e.new_entities} new entities, ${e.observations} observations, ${e.relations} relations` : `${e.status}${e.reason ? ': ' + e.reason : ''}`);
      break;
    case 'correction': head('correction', (e.problems || []).join('; ')); break;
    case 'run_end': head('run end', `${e.status}: ${e.reason || ''}`); break;
    default: head(t, short(args(e), 300));
  }
  return li;
}

function addStep(e) {
  const list = $('#steps');
  const stick = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
  list.append(stepOf(e));
  if (stick) window.scrollTo(0, document.body.scrollHeight);
}

async function follow(runId) {
  if (stream) stream.abort();
  const ctrl = new AbortController();
  stream = ctrl;
  $('#steps').replaceChildren();
  let from = 0, ended = false;
  while (!ctrl.signal.aborted && !ended) {
    try {
      const res = await fetch(`/api/runs/${encodeURIComponent(runId)}/stream?from=${from}`, { headers: headers(), signal: ctrl.signal });
      if (!res.ok) { $('#run-message').textContent = 'events: ' + res.status; break; }
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let id = null, event = 'message', data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) id = line.slice(4);
            else if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (event === 'end') { ended = true; continue; }
          if (!data) continue;
          if (id !== null) from = Number(id) + 1;
          try { addStep(JSON.parse(data)); } catch (_) { /* a torn line: skipped */ }
        }
      }
    } catch (err) {
      if (ctrl.signal.aborted) return;
    }
    if (!ended) await new Promise((r) => setTimeout(r, 1500));
  }
  if (ended) refreshRuns();
}

async function refreshRuns() {
  try {
    const body = await api('/api/runs?limit=50');
    runsCache = body.runs;
    const select = $('#run-select');
    const keep = selectedRun;
    select.replaceChildren(...body.runs.map((r) => el('option', { value: r.id }, `${r.id} · ${r.env} · ${r.status}`)));
    if (!body.runs.length) { $('#run-status').textContent = 'no runs yet'; return; }
    const active = body.active ? body.active.run_id : '';
    const pick = keep && body.runs.some((r) => r.id === keep) ? keep : (active || body.runs[0].id);
    select.value = pick;
    const run = body.runs.find((r) => r.id === pick);
    $('#run-status').textContent = run.status;
    $('#run-status').className = 'pill ' + run.status;
    $('#stop-run').disabled = run.status !== 'running';
    if (pick !== selectedRun) { selectedRun = pick; follow(pick); }
  } catch (err) { $('#run-message').textContent = err.message; }
}

$('#run-select').addEventListener('change', (ev) => { selectedRun = ev.target.value; follow(selectedRun); refreshRuns(); });
$('#start-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  $('#run-message').textContent = '';
  const body = {};
  if ($('#start-env').value) body.env = $('#start-env').value;
  if ($('#start-goal').value) body.goal = $('#start-goal').value;
  if (Number($('#start-max').value) > 0) body.max_tasks = Number($('#start-max').value);
  $('#start-run').disabled = true;
  try {
    const r = await api('/api/runs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    // Followed once, here; refreshRuns then finds it selected and only updates the list.
    selectedRun = r.run_id;
    follow(r.run_id);
    await refreshRuns();
  } catch (err) { $('#run-message').textContent = 'start: ' + err.message; }
  $('#start-run').disabled = false;
});
$('#stop-run').addEventListener('click', async () => {
  try { await api(`/api/runs/${encodeURIComponent(selectedRun)}/stop`, { method: 'POST' }); $('#run-status').textContent = 'stopping'; }
  catch (err) { $('#run-message').textContent = 'stop: ' + err.message; }
});
setInterval(() => { if (!$('#view-run').hidden) refreshRuns(); }, 3000);

// --- progress ----------------------------------------------------------------------------------
async function loadProgress() {
  const env = $('#progress-env').value;
  try {
    const p = await api('/api/progress' + (env ? '?env=' + encodeURIComponent(env) : ''));
    $('#progress-env').value = p.env;
    $('#milestones').replaceChildren(...p.milestones.map((m) => el('li', { class: m.done ? 'done' : '' }, `${m.description || m.id}${m.skill ? ' — ' + m.skill : ''}`)));
    if (!p.milestones.length) $('#milestones').append(el('li', {}, 'no milestones recorded for ' + p.env));
    $('#tasks tbody').replaceChildren(...p.tasks.map((t) => el('tr', {}, el('td', {}, t.id), el('td', {}, t.description), el('td', {}, t.status), el('td', {}, t.attempts), el('td', {}, t.skill), el('td', {}, short(t.critique, 200)))));
  } catch (err) { $('#milestones').replaceChildren(el('li', {}, err.message)); }
}
$('#progress-load').addEventListener('click', loadProgress);

// --- skills ------------------------------------------------------------------------------------
const PY_KEYWORDS = new Set('False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield'.split(' '));
// Python as spans: comments, strings, numbers, keywords, defined names. Text only, never HTML.
function highlight(code) {
  const out = document.createDocumentFragment();
  const re = /(#[^\n]*)|("""[\s\S]*?"""|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')|(\b\d+(?:\.\d+)?\b)|([A-Za-z_][A-Za-z0-9_]*)/g;
  let last = 0, m, afterDef = false;
  while ((m = re.exec(code))) {
    if (m.index > last) out.append(code.slice(last, m.index));
    let cls = '';
    if (m[1]) cls = 'tok-com';
    else if (m[2]) cls = 'tok-str';
    else if (m[3]) cls = 'tok-num';
    else if (m[4] && PY_KEYWORDS.has(m[4])) cls = 'tok-kw';
    else if (m[4] && afterDef) cls = 'tok-def';
    afterDef = m[4] === 'def' || m[4] === 'class';
    out.append(cls ? el('span', { class: cls }, m[0]) : m[0]);
    last = re.lastIndex;
  }
  out.append(code.slice(last));
  return out;
}

function skillRow(k) {
  return el('tr', { class: 'clickable', 'data-skill': k.name, onclick: () => openSkill(k.name, 0) },
    el('td', {}, k.name), el('td', {}, k.version), el('td', {}, k.uses), el('td', {}, k.successes), el('td', {}, k.failures), el('td', {}, k.environment));
}

async function loadSkills() {
  try {
    const q = $('#skill-query').value.trim();
    const body = q ? await api('/api/skills/search?q=' + encodeURIComponent(q) + '&k=20')
                   : await api('/api/skills' + ($('#skill-all').checked ? '?all=1' : ''));
    const list = q ? body.hits : body.skills;
    $('#skills tbody').replaceChildren(...list.map(skillRow));
    if (!list.length) $('#skills tbody').append(el('tr', {}, el('td', { colspan: 6 }, 'no skills yet')));
  } catch (err) { $('#skill-detail').textContent = err.message; }
}

async function openSkill(name, version) {
  try {
    const k = await api(`/api/skills/${encodeURIComponent(name)}` + (version ? '?version=' + version : ''));
    const v = await api(`/api/skills/${encodeURIComponent(name)}/versions`);
    const code = el('pre', { class: 'code', id: 'skill-code' });
    code.append(highlight(k.code));
    $('#skill-detail').replaceChildren(
      el('h2', {}, `${k.signature}  v${k.version}${k.superseded ? ' (superseded)' : ''}`),
      el('p', {}, k.description),
      el('p', { class: 'note' }, `used ${k.uses}, succeeded ${k.successes}, failed ${k.failures}; ${k.environment || 'any environment'}; created ${k.created}`),
      code,
      el('p', {}, 'Versions: ', ...v.versions.map((x) => el('button', { type: 'button', onclick: () => openSkill(name, x.version) }, 'v' + x.version))));
  } catch (err) { $('#skill-detail').textContent = err.message; }
}
$('#skill-search').addEventListener('click', loadSkills);
$('#skill-all').addEventListener('change', loadSkills);

// --- memory ------------------------------------------------------------------------------------
async function loadMemoryStats() {
  try {
    const s = await api('/api/memory/stats');
    $('#memory-stats').textContent = `${s.items} memories (${Object.entries(s.by_kind).map(([k, n]) => k + ' ' + n).join(', ') || 'none'}); embedder ${s.embedder}`;
  } catch (err) { $('#memory-stats').textContent = err.message; }
}
$('#memory-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const q = $('#memory-query').value.trim();
  if (!q) return;
  try {
    const body = await api(`/api/memory/search?q=${encodeURIComponent(q)}&k=20&kind=${$('#memory-kind').value}`);
    $('#memory-hits').replaceChildren(...body.hits.map((h) => el('li', {}, el('span', { class: 'pill' }, h.kind), ' ', h.text || h.task, el('span', { class: 'note' }, `  score ${h.score.toFixed(4)}`))));
    if (!body.hits.length) $('#memory-hits').append(el('li', {}, 'nothing matches'));
  } catch (err) { $('#memory-hits').replaceChildren(el('li', {}, err.message)); }
});

// --- charts: drawn on canvas by this file ------------------------------------------------------
const COLORS = ['#2a5db0', '#1f7a3a', '#b3261e', '#8a5cc2', '#c27c0e', '#0e8a8a', '#555'];
function chart(canvas, series, { xLabel = '', yLabel = '', yMax = null, right = null } = {}) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height, L = 48, R = right ? 48 : 12, T = 12, B = 32;
  ctx.clearRect(0, 0, W, H);
  ctx.font = '11px sans-serif';
  const pts = series.flatMap((s) => s.points);
  if (!pts.length) { ctx.fillStyle = '#6b6b70'; ctx.fillText('no data yet', W / 2 - 30, H / 2); canvas.dataset.points = '0'; return; }
  const xMax = Math.max(1, ...pts.map((p) => p[0]));
  const yTop = yMax ?? Math.max(1, ...series.filter((s) => !s.right).flatMap((s) => s.points.map((p) => p[1])));
  const X = (x) => L + (W - L - R) * x / xMax;
  const Y = (y, top = yTop) => H - B - (H - B - T) * y / top;
  ctx.strokeStyle = '#999'; ctx.beginPath(); ctx.moveTo(L, T); ctx.lineTo(L, H - B); ctx.lineTo(W - R, H - B); ctx.stroke();
  ctx.fillStyle = '#333';
  for (let i = 0; i <= 4; i++) { const v = yTop * i / 4; ctx.fillText(v >= 100 ? Math.round(v) : v.toFixed(1), 4, Y(v) + 4); }
  const xStep = Math.max(1, Math.ceil(xMax / 4));  // whole model calls, no repeated labels
  for (let v = 0; v <= xMax; v += xStep) ctx.fillText(String(v), X(v) - 6, H - B + 14);
  ctx.fillText(xLabel, W / 2 - 40, H - 4);
  ctx.save(); ctx.translate(10, H / 2 + 30); ctx.rotate(-Math.PI / 2); ctx.fillText(yLabel, 0, 0); ctx.restore();
  if (right) { for (let i = 0; i <= 4; i++) ctx.fillText((i * 25) + '%', W - R + 6, Y(i / 4, 1) + 4); }
  series.forEach((s, i) => {
    ctx.strokeStyle = ctx.fillStyle = s.color || COLORS[i % COLORS.length];
    const top = s.right ? 1 : yTop;
    ctx.beginPath();
    s.points.forEach((p, j) => { if (s.bars) { ctx.fillRect(X(p[0]) - 1, Y(p[1], top), 3, H - B - Y(p[1], top)); } else if (j) ctx.lineTo(X(p[0]), Y(p[1], top)); else ctx.moveTo(X(p[0]), Y(p[1], top)); });
    if (!s.bars) ctx.stroke();
    if (s.dots) s.points.forEach((p) => { ctx.beginPath(); ctx.arc(X(p[0]), Y(p[1], top), 3, 0, 7); ctx.fill(); });
    ctx.fillText(s.name, L + 8 + (i % 4) * 170, T + 10 + Math.floor(i / 4) * 12);
  });
  canvas.dataset.points = String(pts.length);
}

async function drawCharts() {
  try {
    const m = await api('/api/metrics/milestones?limit=7');
    chart($('#chart-milestones'), m.runs.filter((r) => r.milestones.length).map((r) => ({
      name: `${r.run_id.slice(0, 10)} ${r.variant ? [r.variant.critic, r.variant.curriculum, r.variant.skills === false ? 'no-skills' : ''].filter(Boolean).join('/') : ''}`,
      dots: true, points: [[0, 0], ...r.milestones.map((x, i) => [x.model_calls, i + 1])] })),
      { xLabel: 'model calls', yLabel: 'milestones' });
    const run = selectedRun || (m.runs[0] && m.runs[0].run_id);
    if (!run) { chart($('#chart-tokens'), []); chart($('#chart-speed'), []); return; }
    const r = await api(`/api/runs/${encodeURIComponent(run)}/metrics`);
    const calls = r.model_calls;
    chart($('#chart-tokens'), [
      { name: 'prompt tokens', bars: true, points: calls.map((c) => [c.n, c.prompt_tokens]) },
      { name: 'completion tokens', points: calls.map((c) => [c.n, c.completion_tokens]) },
      { name: 'cached share (right)', right: true, color: '#1f7a3a', points: calls.map((c) => [c.n, c.prompt_tokens ? c.cached_tokens / c.prompt_tokens : 0]) },
    ], { xLabel: 'model call', yLabel: 'tokens', right: true });
    chart($('#chart-speed'), [
      { name: 'tokens/s', dots: true, points: calls.filter((c) => c.latency_ms > 0).map((c) => [c.n, c.completion_tokens / (c.latency_ms / 1000)]) },
    ], { xLabel: 'model call', yLabel: 'tokens/s' });
  } catch (err) { console.error(err); }
}

// --- health ------------------------------------------------------------------------------------
async function loadHealth() {
  try {
    const l = await api('/api/llm');
    const rows = l.endpoints.map((e) => el('tr', {}, el('td', {}, e.url), el('td', { class: e.state === 'up' ? 'up' : 'down' }, e.state), el('td', {}, e.model), el('td', {}, e.context_size), el('td', {}, e.slots), el('td', {}, e.busy < 0 ? '-' : e.busy), el('td', {}, e.last_error)));
    const share = l.cached_share ? `cached share of the newest run: ${(100 * l.cached_share.share).toFixed(1)}% of ${l.cached_share.prompt_tokens} prompt tokens` : 'no model calls yet';
    $('#llm').replaceChildren(
      el('p', {}, `backend ${l.backend}${l.model ? ', model ' + l.model : ''}. ${l.note}`),
      el('table', {}, el('thead', {}, el('tr', {}, ...['endpoint', 'health', 'model', 'context', 'slots', 'busy', 'last error'].map((h) => el('th', {}, h)))), el('tbody', {}, ...rows)),
      el('p', { class: 'note' }, share),
      el('p', { class: 'note' }, '/v1: ' + (l.model_server.served ? 'serving ' + l.model_server.model : l.model_server.note)),
      el('ul', {}, ...l.events.slice(-8).map((e) => el('li', { class: 'note' }, `${e.time} ${e.endpoint} ${e.event} ${e.detail}`))));
    const h = await api('/api/health');
    $('#server').replaceChildren(el('p', {}, `data home ${h.home}; MCP at ${h.mcp || '(off)'} serving ${h.mcp_server || '-'}`));
  } catch (err) { $('#llm').textContent = err.message; }
  loadMcp(false);
}
async function loadMcp(probe) {
  try {
    const m = await api('/api/mcp' + (probe ? '?probe=1' : ''));
    $('#mcp').replaceChildren(el('table', {}, el('tbody', {}, ...m.servers.map((s) => el('tr', {}, el('td', {}, s.name), el('td', { class: s.state === 'connected' ? 'up' : (s.state === 'down' ? 'down' : '') }, s.state), el('td', {}, s.detail), el('td', {}, s.tools ? s.tools.length + ' tools: ' + s.tools.map((t) => t.name).join(', ') : ''))))));
  } catch (err) { $('#mcp').textContent = err.message; }
}
$('#mcp-probe').addEventListener('click', () => loadMcp(true));

$('#token-state').textContent = token() ? 'token set' : 'no token (read-only)';
showView();
