// Closed-loop load through the gateway with the official openai SDK, for bench/foreign_hold.sh.
// env: GATEWAY_URL (http://127.0.0.1:8180), TOKEN, CLIENTS (200), SECONDS (75),
//      OFFERED (total requests/s offered if unthrottled), STREAM_FRAC (0.3),
//      PROMPT_WORDS (e.g. 60: words per prompt, varied +-50%), MAX_TOKENS (100), OUT (csv path)
import OpenAI from 'openai';
import fs from 'node:fs';

const gw = process.env.GATEWAY_URL ?? 'http://127.0.0.1:8180';
const token = process.env.TOKEN ?? 'foreign-secret';
const clients = Number(process.env.CLIENTS ?? 200);
const seconds = Number(process.env.SECONDS ?? 75);
const offered = Number(process.env.OFFERED ?? 100);
const streamFrac = Number(process.env.STREAM_FRAC ?? 0.3);
const promptWords = Number(process.env.PROMPT_WORDS ?? 60);
const maxTokens = Number(process.env.MAX_TOKENS ?? 100);
const out = process.env.OUT ?? 'clients.csv';
const model = process.env.MODEL ?? 'gpt-4o-mini';

const statuses = {};
const rows = [];
let raw429 = 0;
const countingFetch = async (url, init) => {
  const r = await fetch(url, init);
  statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  if (r.status === 429) raw429++;
  return r;
};
const words = 'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu the quick brown fox jumps over lazy dog'.split(' ');
let seq = 0;
function prompt() {
  const n = Math.max(1, Math.round(promptWords * (0.5 + Math.random())));
  let s = `Request ${seq++}: summarise `;
  for (let i = 0; i < n; i++) s += words[(Math.random() * words.length) | 0] + ' ';
  return s;
}

const period = clients / offered; // seconds between a client's sends when unthrottled
const tStart = Date.now();
const tEnd = tStart + seconds * 1000;
let completed = 0, failed = 0, failed429 = 0;
const errs = {};

async function loop(id) {
  const c = new OpenAI({ apiKey: token, baseURL: `${gw}/v1`, maxRetries: 2, timeout: 180_000, fetch: countingFetch });
  // spread the first sends over one period
  await new Promise((r) => setTimeout(r, Math.random() * period * 1000));
  while (Date.now() < tEnd) {
    const t0 = Date.now();
    const stream = Math.random() < streamFrac;
    const body = { model, messages: [{ role: "user", content: prompt() }] }; if (maxTokens > 0) body.max_tokens = maxTokens;
    let status = 200;
    try {
      if (stream) {
        const s = await c.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
        let usage = null;
        for await (const ch of s) if (ch.usage) usage = ch.usage;
        if (!usage) throw new Error('stream without usage');
      } else {
        const r = await c.chat.completions.create(body);
        if (!r.usage) throw new Error('no usage');
      }
      completed++;
    } catch (e) {
      failed++;
      status = e.status ?? 'err';
      if (e.status === 429) failed429++;
      const k = `${status}: ${String(e.message).slice(0, 120)}`;
      errs[k] = (errs[k] ?? 0) + 1;
    }
    const t1 = Date.now();
    rows.push(`${t0},${t1},${status},${stream ? 1 : 0}`);
    const next = t0 + period * 1000;
    const wait = next - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

await Promise.all(Array.from({ length: clients }, (_, i) => loop(i)));
fs.writeFileSync(out, 't0,t1,status,stream\n' + rows.join('\n') + '\n');
const lat = rows.map((r) => { const [a, b] = r.split(','); return Number(b) - Number(a); }).sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
console.log(JSON.stringify({ clients, seconds, offered, completed, failed, failed429, raw429, statuses, p50_ms: q(0.5), p95_ms: q(0.95), max_ms: lat[lat.length - 1], wall_s: (Date.now() - tStart) / 1000, errs }));
