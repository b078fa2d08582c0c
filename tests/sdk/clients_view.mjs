// Sends requests through the console's workspace gateway with the official
// `openai` SDK, for tests/ui/tst_console_clients.cpp. Environment:
// GATEWAY_URL (http://127.0.0.1:PORT), TOKEN (a gateway token made in the
// console). Usage: node clients_view.mjs MODE N
//   send N    N chat completions one after another; all must succeed
//   burst N   N at once; prints "ok=A limited=B" (429s have a retry-after)
//   denied    one request; it must be refused 401
//   draining  one request; it must be refused 503 gateway_draining, with
//             x-should-retry: true (the gateway is draining)
//   stream    one streamed completion; prints "first" at its first chunk,
//             then "ok streamed chunks=K" when it ended whole
// Prints one line, starting "ok" when the mode's expectation held; exits 1
// otherwise.
import OpenAI from 'openai';

const [mode, nText] = process.argv.slice(2);
const n = Number(nText || 1);
const client = new OpenAI({ apiKey: process.env.TOKEN, baseURL: `${process.env.GATEWAY_URL}/v1`, maxRetries: 0 });
const chat = () =>
  client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 8 });

async function main() {
  if (mode === 'send') {
    for (let i = 0; i < n; ++i) {
      const r = await chat();
      if (!(r.choices[0].message.content.length > 0)) throw new Error(`request ${i}: empty content`);
    }
    return `ok sent=${n}`;
  }
  if (mode === 'burst') {
    let ok = 0;
    let limited = 0;
    const results = await Promise.allSettled(Array.from({ length: n }, chat));
    for (const r of results) {
      if (r.status === 'fulfilled') {
        ++ok;
      } else if (r.reason instanceof OpenAI.RateLimitError && r.reason.headers?.get('retry-after')) {
        ++limited;
      } else {
        throw new Error(`unexpected: ${r.reason}`);
      }
    }
    return `ok ok=${ok} limited=${limited}`;
  }
  if (mode === 'stream') {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hello' }],
      max_tokens: 64,
      stream: true,
    });
    let chunks = 0;
    let text = '';
    let finish = null;
    for await (const c of stream) {
      if (chunks === 0) console.log('first');
      ++chunks;
      text += c.choices[0]?.delta?.content ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    if (!(text.length > 0) || !finish) throw new Error(`the stream ended early: ${chunks} chunks, finish ${finish}`);
    return `ok streamed chunks=${chunks}`;
  }
  if (mode === 'denied') {
    try {
      await chat();
    } catch (e) {
      if (e instanceof OpenAI.AuthenticationError) return 'ok denied';
      throw e;
    }
    throw new Error('the request was accepted');
  }
  if (mode === 'draining') {
    try {
      await chat();
    } catch (e) {
      if (e instanceof OpenAI.APIError && e.status === 503 && e.code === 'gateway_draining' &&
          e.headers?.get('x-should-retry') === 'true') {
        return 'ok draining';
      }
      throw new Error(`unexpected: ${e.status} ${e.code} ${e.message}`);
    }
    throw new Error('the request was accepted');
  }
  throw new Error(`unknown mode ${mode}`);
}

main().then(
  (line) => console.log(line),
  (e) => {
    console.log(`FAIL ${e.message}`);
    process.exit(1);
  },
);
