// Load through the gateway with the official OpenAI SDK (bench/gateway_hold.sh
// starts the mock and the gateway and reads the mock's counters).
//   node bench_gateway.mjs hold SECONDS CLIENTS    closed loop: CLIENTS SDK clients, each
//                                                   sending its next request when the last ends
//   node bench_gateway.mjs fair SECONDS RATE_A RATE_B  open loop: tenant A at RATE_A/s,
//                                                   tenant B at RATE_B/s (RATE_A 0: B alone)
// Environment: GATEWAY_URL, TOKEN_A, TOKEN_B; PROMPTS=varied: each request
// one of several prompts (English, Japanese, code, emoji; 10 to 400 tokens)
// and max_tokens, so the gateway's estimates meet a provider's tokenizer
// (bench/gateway_hold.sh BINDING=tpm); DIALECT=anthropic: the hold's clients
// are @anthropic-ai/sdk clients sending Messages to claude-haiku-4-5 with
// varied prompts and max_tokens 256 (BINDING=otpm); DIALECT=responses: each
// hold client carries a Responses API conversation, each turn a varied
// prompt continuing the last answer (previous_response_id), TURNS turns
// (default 6) before it starts a new one (BINDING=responses). Prints one JSON line.
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const [mode, secondsArg, x, y] = process.argv.slice(2);
const seconds = Number(secondsArg);
const gw = process.env.GATEWAY_URL;
// The SDK's own retries stay on, as applications run it: a 429 that reached
// the client would show as an error here only after them, so they are
// counted from the responses instead (see statuses).
const client = (apiKey) => new OpenAI({ apiKey, baseURL: `${gw}/v1`, maxRetries: 2, timeout: 120_000 });
const fixedBody = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 16 };
// Texts whose tokens per character differ several-fold: what a
// characters-based estimate gets wrong and a real tokenizer counts exactly.
const texts = [
  'Summarise the following meeting notes in three bullet points. ',
  '東京の天気について、明日の予報を簡単に教えてください。週末の予定を立てたいです。',
  'fn main() { let v: Vec<u64> = (0..10).map(|x| x * x).collect(); println!("{:?}", v); }\n',
  'Translate to French: the quick brown fox jumps over the lazy dog. ',
  '🚀✨🔥 emoji-heavy status update 🎉🎉 done ✅ next ➡️ ',
  '数据库连接池的最大连接数应该如何设置？请给出具体的建议。',
];
let drawn = 0;
// The i-th prompt: one of the texts, 1 to 13 copies (10 to 400 tokens).
const variedText = (i) => texts[i % texts.length].repeat(1 + ((i * 7) % 13));
function nextBody() {
  if (process.env.PROMPTS !== 'varied') return fixedBody;
  const i = drawn++;
  return { model: 'gpt-4o-mini', messages: [{ role: 'user', content: variedText(i) }], max_tokens: 16 + ((i * 11) % 49) };
}
const anthropicDialect = process.env.DIALECT === 'anthropic';
function nextMessage() {
  return { model: 'claude-haiku-4-5', messages: [{ role: 'user', content: variedText(drawn++) }], max_tokens: 256 };
}
const responsesDialect = process.env.DIALECT === 'responses';
const turns = Number(process.env.TURNS ?? 6);
const statuses = {};
const note = (s) => (statuses[s] = (statuses[s] ?? 0) + 1);

// charged: what an OpenAI-style provider counts against TPM on arrival,
// the prompt's tokens (as the provider's usage reports them) plus max_tokens.
async function one(c, conversation) {
  const t0 = performance.now();
  try {
    if (responsesDialect) {
      const i = drawn++;
      const body = { model: 'gpt-4o-mini', input: variedText(i), max_output_tokens: 16 + ((i * 11) % 49) };
      if (conversation.last && conversation.turn < turns) body.previous_response_id = conversation.last;
      else conversation.turn = 0;
      const { data, response } = await c.responses.create(body).withResponse();
      note(response.status);
      conversation.last = data.id;
      conversation.turn++;
      return { ok: true, t0, ms: performance.now() - t0, charged: data.usage.input_tokens + body.max_output_tokens };
    }
    if (anthropicDialect) {
      const { data, response } = await c.messages.create(nextMessage()).withResponse();
      note(response.status);
      return { ok: true, t0, ms: performance.now() - t0, input: data.usage.input_tokens, output: data.usage.output_tokens };
    }
    const body = nextBody();
    const { data, response } = await c.chat.completions.create(body).withResponse();
    note(response.status);
    return { ok: true, t0, ms: performance.now() - t0, charged: (data.usage?.prompt_tokens ?? 0) + body.max_tokens };
  } catch (e) {
    note(e.status ?? 'error');
    return { ok: false, t0, ms: performance.now() - t0 };
  }
}

function pct(values, p) {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const start = performance.now();
const until = start + seconds * 1000;

if (mode === 'hold') {
  const clients = Number(x);
  const done = [];
  // Count 429s the SDK saw before its retries, too: a fetch wrapper would
  // hide them, so each attempt's status is read from a custom fetch.
  let seen429 = 0;
  const countingFetch = async (url, init) => {
    const r = await fetch(url, init);
    if (r.status === 429) seen429++;
    return r;
  };
  const loop = async () => {
    const c = anthropicDialect
      ? new Anthropic({ apiKey: process.env.TOKEN_A, baseURL: gw, maxRetries: 2, timeout: 120_000, fetch: countingFetch })
      : new OpenAI({ apiKey: process.env.TOKEN_A, baseURL: `${gw}/v1`, maxRetries: 2, timeout: 120_000, fetch: countingFetch });
    const conversation = { last: null, turn: 0 };
    while (performance.now() < until) {
      const r = await one(c, conversation);
      done.push({ end: r.t0 + r.ms - start, ok: r.ok, ms: r.ms, charged: r.charged ?? 0, input: r.input ?? 0, output: r.output ?? 0 });
    }
  };
  await Promise.all(Array.from({ length: clients }, loop));
  const warm = 10_000;
  const window = done.filter((d) => d.ok && d.end >= warm && d.end < seconds * 1000);
  const measuredSeconds = (seconds * 1000 - warm) / 1000;
  const sumOf = (field) => window.reduce((a, d) => a + d[field], 0);
  const latencies = done.filter((d) => d.ok).map((d) => d.ms);
  console.log(JSON.stringify({
    mode, clients, seconds, completed: done.filter((d) => d.ok).length, failed: done.filter((d) => !d.ok).length,
    http429SeenByClients: seen429, statuses,
    throughputPerSecond: window.length / measuredSeconds,
    chargedTokensPerSecond: sumOf('charged') / measuredSeconds,
    inputTokensPerSecond: sumOf('input') / measuredSeconds,
    outputTokensPerSecond: sumOf('output') / measuredSeconds,
    latencyMs: { p50: pct(latencies, 50), p95: pct(latencies, 95), max: pct(latencies, 100) },
  }));
} else if (mode === 'fair') {
  const rateA = Number(x);
  const rateB = Number(y);
  const a = client(process.env.TOKEN_A);
  const b = client(process.env.TOKEN_B);
  const results = { a: [], b: [] };
  const pending = [];
  const drive = (c, rate, into) => {
    if (rate <= 0) return;
    const every = 1000 / rate;
    let next = performance.now();
    const tick = () => {
      const now = performance.now();
      while (next <= now && now < until) {
        pending.push(one(c).then((r) => into.push(r)));
        next += every;
      }
      if (now < until) setTimeout(tick, Math.max(0, next - performance.now()));
    };
    tick();
  };
  drive(a, rateA, results.a);
  drive(b, rateB, results.b);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  await Promise.all(pending);
  // The first 5 s are warm-up (A's backlog building).
  const steady = (list) => list.filter((r) => r.ok && r.t0 - start >= 5000).map((r) => r.ms);
  console.log(JSON.stringify({
    mode, seconds, rateA, rateB, statuses,
    a: { completed: results.a.filter((r) => r.ok).length, p50: pct(steady(results.a), 50), p95: pct(steady(results.a), 95) },
    b: { completed: results.b.filter((r) => r.ok).length, p50: pct(steady(results.b), 50), p95: pct(steady(results.b), 95) },
  }));
}
