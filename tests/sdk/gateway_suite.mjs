// Drives `sluice-cli serve` in front of the mock with the official SDKs.
// Environment: GATEWAY_URL (http://127.0.0.1:PORT), MOCK_URL, TOKEN_A (a
// token with room), TOKEN_SMALL (a token whose budget is 1 request a minute),
// TOKEN_B (a token limited to gpt-4o-mini and claude-haiku-4-5).
// Prints one line per check ("ok NAME" or "FAIL NAME: why"); exits 1 if any
// failed. Run by tests/gateway/tst_gateway_sdk.cpp.
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import net from 'node:net';
import zlib from 'node:zlib';

const gw = process.env.GATEWAY_URL;
const mockUrl = process.env.MOCK_URL;
const tokenA = process.env.TOKEN_A;
const tokenSmall = process.env.TOKEN_SMALL;
const tokenB = process.env.TOKEN_B;
const only = process.argv.slice(2);

const openai = (apiKey = tokenA, opts = {}) => new OpenAI({ apiKey, baseURL: `${gw}/v1`, maxRetries: 0, ...opts });
const anthropic = (apiKey = tokenA, opts = {}) => new Anthropic({ apiKey, baseURL: gw, maxRetries: 0, ...opts });
const chat = (extra = {}) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 8, ...extra });
const msg = (extra = {}) => ({ model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'Hello' }], ...extra });

function assert(cond, why) {
  if (!cond) throw new Error(why);
}
async function rejects(promise, cls, status) {
  try {
    await promise;
  } catch (e) {
    assert(e instanceof cls, `expected ${cls.name}, got ${e.constructor.name}: ${e.message}`);
    if (status !== undefined) assert(e.status === status, `expected status ${status}, got ${e.status}`);
    return e;
  }
  throw new Error(`expected ${cls.name}, but the call succeeded`);
}
async function mockStats() {
  return (await fetch(`${mockUrl}/mock/stats`)).json();
}
async function mockConfig(body) {
  const r = await fetch(`${mockUrl}/mock/config`, { method: 'POST', body: JSON.stringify(body) });
  assert(r.ok, `mock config: ${r.status}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const checks = {
  async openai_chat() {
    const r = await openai().chat.completions.create(chat());
    assert(r.choices[0].message.content.length > 0, 'empty content');
    assert(r.usage.completion_tokens === 8, `usage ${JSON.stringify(r.usage)}`);
    const { response } = await openai().chat.completions.create(chat()).withResponse();
    assert(response.headers.get('x-request-id')?.startsWith('req_'), 'no provider x-request-id');
    assert(response.headers.get('x-ratelimit-limit-requests') === '600', 'no tenant x-ratelimit-limit-requests');
  },
  async openai_base_url_without_v1() {
    // The host alone as the base URL, as some tools configure it: the same API, the same answers.
    const bare = openai(tokenA, { baseURL: gw });
    const r = await bare.chat.completions.create(chat());
    assert(r.usage.completion_tokens === 8, `usage ${JSON.stringify(r.usage)}`);
    const s = await bare.chat.completions.create(chat({ stream: true }));
    let text = '';
    for await (const c of s) text += c.choices[0]?.delta?.content ?? '';
    assert(text.length > 0, 'no streamed text');
    const models = [];
    for await (const m of bare.models.list()) models.push(m.id);
    assert(models.includes('gpt-4o-mini'), `models ${models}`);
    const e = await bare.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
    assert(e.data.length === 2, `embeddings ${JSON.stringify(e).slice(0, 200)}`);
    // Without a token it is refused as on /v1, and a path it does not serve is named as sent.
    await rejects(openai('wrong-token', { baseURL: gw }).chat.completions.create(chat()), OpenAI.AuthenticationError, 401);
    const typo = await fetch(`${gw}/chat/completion?x=1`, { method: 'POST', body: '{}' });
    const typoError = await typo.json();
    assert(typo.status === 404 && /serves no POST \/chat\/completion$/.test(typoError.error.message), JSON.stringify(typoError));
  },
  async openai_chat_stream_usage() {
    const s = await openai().chat.completions.create(chat({ stream: true, stream_options: { include_usage: true } }));
    let text = '';
    let usage;
    for await (const c of s) {
      text += c.choices[0]?.delta?.content ?? '';
      if (c.usage) usage = c.usage;
    }
    assert(text.length > 0, 'no streamed text');
    assert(usage?.completion_tokens === 8, `usage ${JSON.stringify(usage)}`);
  },
  async openai_chat_stream_without_usage_is_unchanged() {
    // Sluice asks the provider for the stream's usage (to settle it); a
    // client that did not ask gets no usage chunk, whose empty choices
    // would break code that reads choices[0] of every chunk.
    const s = await openai().chat.completions.create(chat({ stream: true }));
    let text = '';
    let chunks = 0;
    for await (const c of s) {
      assert(c.choices.length > 0, `a chunk with no choices: ${JSON.stringify(c)}`);
      assert(!c.usage, `usage the client did not ask for: ${JSON.stringify(c.usage)}`);
      text += c.choices[0].delta.content ?? '';
      chunks += 1;
    }
    assert(text.length > 0 && chunks > 2, `streamed ${chunks} chunks: ${text}`);
    // The stream as bytes: every event but [DONE] is a chunk with choices.
    const r = await fetch(`${gw}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokenA}`, 'content-type': 'application/json' },
      body: JSON.stringify(chat({ stream: true })),
    });
    const events = (await r.text()).split('\n\n').filter((e) => e.startsWith('data: '));
    assert(events.at(-1) === 'data: [DONE]', `last event ${events.at(-1)}`);
    for (const e of events.slice(0, -1)) {
      assert(JSON.parse(e.slice(6)).choices.length > 0, `event ${e}`);
    }
  },
  async openai_tool_call_roundtrip() {
    // A conversation with a tool call and its result, and tools offered:
    // the request goes through unchanged (the mock answers text).
    const r = await openai().chat.completions.create({
      model: 'gpt-4o-mini',
      max_tokens: 8,
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
      ],
    });
    assert(r.choices.length === 1, 'no choice');
  },
  async openai_responses() {
    const { data: r, response } = await openai().responses.create({ model: 'gpt-4o-mini', input: 'Hello there', max_output_tokens: 16 }).withResponse();
    assert(r.object === 'response' && r.output_text.length > 0, `response ${JSON.stringify(r)}`);
    // The mock counts "Hello there" as 3 + 3 + 3 tokens and writes 16.
    assert(r.usage.input_tokens === 9 && r.usage.output_tokens === 16 && r.usage.total_tokens === 25, `usage ${JSON.stringify(r.usage)}`);
    assert(response.headers.get('x-request-id')?.startsWith('req_'), 'no provider x-request-id');
    assert(response.headers.get('x-ratelimit-limit-requests') === '600', 'no tenant x-ratelimit-limit-requests');
  },
  async openai_responses_stored_and_continued() {
    // What agent frameworks do: continue a response by its id, read it
    // back, list its input, delete it. Each goes on the key that made it.
    const first = await openai().responses.create({ model: 'gpt-4o-mini', input: 'Remember 42', max_output_tokens: 16 });
    assert(first.store === true && first.id.startsWith('resp_'), `stored ${JSON.stringify(first)}`);
    const next = await openai().responses.create({ model: 'gpt-4o-mini', previous_response_id: first.id, input: 'What number?', max_output_tokens: 16 });
    assert(next.previous_response_id === first.id, `continued ${next.previous_response_id}`);
    const got = await openai().responses.retrieve(first.id);
    assert(got.id === first.id && got.output_text === first.output_text, `retrieved ${JSON.stringify(got)}`);
    const items = [];
    for await (const item of openai().responses.inputItems.list(first.id)) items.push(item);
    assert(Array.isArray(items), 'input items');
    await openai().responses.delete(first.id);
    await rejects(openai().responses.retrieve(first.id), OpenAI.NotFoundError, 404);
    // Another tenant cannot read a response it did not make.
    await rejects(openai(tokenB).responses.retrieve(next.id), OpenAI.NotFoundError, 404);
    // A continuation of what the provider does not know is its own 400.
    const e = await rejects(openai().responses.create({ model: 'gpt-4o-mini', previous_response_id: 'resp_unknown', input: 'x', max_output_tokens: 16 }), OpenAI.BadRequestError, 400);
    assert(e.code === 'previous_response_not_found', `code ${e.code}`);
  },
  async openai_responses_compact_and_count() {
    // Long-running agents count a turn's input before sending it and
    // compact the conversation when it grows: both continue a stored
    // response, so both go on the key that made it.
    const first = await openai().responses.create({ model: 'gpt-4o-mini', input: 'Remember 42', max_output_tokens: 16 });
    const count = await openai().responses.inputTokens.count({ previous_response_id: first.id, input: 'What number?' });
    assert(count.object === 'response.input_tokens' && count.input_tokens > 0, `count ${JSON.stringify(count)}`);
    const compacted = await openai().responses.compact({ model: 'gpt-4o-mini', previous_response_id: first.id });
    assert(compacted.object === 'response.compaction' && compacted.output[0].type === 'compaction', `compacted ${JSON.stringify(compacted)}`);
    assert(compacted.usage.total_tokens > 0, `usage ${JSON.stringify(compacted.usage)}`);
    // The compacted items are the next turn's input.
    const next = await openai().responses.create({ model: 'gpt-4o-mini', input: [...compacted.output, { role: 'user', content: 'Go on' }], max_output_tokens: 16 });
    assert(next.output_text.length > 0 && next.usage.input_tokens > 0, `next ${JSON.stringify(next)}`);
    await rejects(openai().responses.compact({ model: 'gpt-4o-mini' }), OpenAI.BadRequestError, 400);
  },
  async openai_responses_stream() {
    const s = await openai().responses.create({
      model: 'gpt-4o-mini',
      instructions: 'Be brief.',
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'Hello there' }] }],
      max_output_tokens: 20,
      stream: true,
    });
    const types = [];
    let text = '';
    let final;
    for await (const ev of s) {
      types.push(ev.type);
      if (ev.type === 'response.output_text.delta') text += ev.delta;
      if (ev.type === 'response.completed' || ev.type === 'response.incomplete') final = ev.response;
    }
    assert(types[0] === 'response.created', `first event ${types[0]}`);
    assert(types.filter((t) => t === 'response.output_text.delta').length === 20, `events ${types}`);
    assert(final && final.output[0].content[0].text === text && text.length > 0, 'streamed text is the final text');
    assert(final.usage.output_tokens === 20 && final.usage.input_tokens > 0, `usage ${JSON.stringify(final?.usage)}`);
  },
  async openai_responses_tool_call() {
    // A forced function call, not streamed and streamed, then its result
    // sent back: the gateway passes tools, items and events through.
    const tools = [{ type: 'function', name: 'search_docs', parameters: { type: 'object', properties: { query: { type: 'string' } } } }];
    const req = { model: 'gpt-4o-mini', input: 'Find the limits page', tools, tool_choice: { type: 'function', name: 'search_docs' }, max_output_tokens: 16 };
    const r = await openai().responses.create(req);
    const call = r.output[0];
    assert(call.type === 'function_call' && call.name === 'search_docs', `output ${JSON.stringify(r.output)}`);
    assert(JSON.parse(call.arguments).query.length > 0, `arguments ${call.arguments}`);
    assert(r.usage.output_tokens === 16, `usage ${JSON.stringify(r.usage)}`);

    const s = await openai().responses.create({ ...req, tool_choice: 'required', stream: true });
    let args = '';
    let done;
    for await (const ev of s) {
      if (ev.type === 'response.function_call_arguments.delta') args += ev.delta;
      if (ev.type === 'response.output_item.done') done = ev.item;
    }
    assert(done?.type === 'function_call' && done.arguments === args, `streamed ${args} vs ${done?.arguments}`);
    assert(typeof JSON.parse(args).query === 'string', 'streamed arguments are JSON');

    const follow = await openai().responses.create({
      model: 'gpt-4o-mini',
      tools,
      max_output_tokens: 16,
      input: [
        { role: 'user', content: 'Find the limits page' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: '{"url":"https://example.test/limits"}' },
      ],
    });
    assert(follow.output[0].type === 'message' && follow.output_text.length > 0, `follow-up ${JSON.stringify(follow.output)}`);
    await rejects(openai().responses.create({ ...req, tool_choice: { type: 'function', name: 'nope' } }), OpenAI.BadRequestError, 400);
  },
  async responses_client_disconnect_mid_stream() {
    const controller = new AbortController();
    const s = await openai().responses.create({ model: 'gpt-4o-mini', input: 'x', max_output_tokens: 2000, stream: true }, { signal: controller.signal });
    let deltas = 0;
    let during = 0;
    try {
      for await (const ev of s) {
        if (ev.type === 'response.output_text.delta' && ++deltas === 3) {
          during = (await mockStats()).openConnections;
          controller.abort();
        }
      }
    } catch (e) {
      assert(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', `abort: ${e.constructor.name}`);
    }
    assert(deltas === 3, `stream went on after the abort: ${deltas} deltas`);
    let after = during;
    for (let i = 0; i < 40 && after >= during; i++) {
      await sleep(50);
      after = (await mockStats()).openConnections;
    }
    assert(after < during, `upstream connection still open (${during} -> ${after})`);
    const r = await openai().responses.create({ model: 'gpt-4o-mini', input: 'again', max_output_tokens: 16 });
    assert(r.object === 'response' && r.output_text.length > 0, 'gateway still serves Responses');
  },
  async openai_embeddings() {
    // The SDK asks for base64 and decodes it to floats.
    const e = await openai().embeddings.create({ model: 'text-embedding-3-small', input: ['12345678', '1234'] });
    assert(e.data.length === 2 && e.data[1].index === 1, `data ${e.data.length}`);
    assert(e.data[0].embedding.length === 1536, `dimensions ${e.data[0].embedding.length}`);
    const norm = Math.hypot(...e.data[0].embedding);
    assert(Math.abs(norm - 1) < 1e-3, `not a unit vector: ${norm}`);
    assert(e.usage.prompt_tokens === 3 && e.usage.total_tokens === 3, `usage ${JSON.stringify(e.usage)}`);
    const f = await openai().embeddings.create({ model: 'text-embedding-3-small', input: 'hi', dimensions: 8, encoding_format: 'float' });
    assert(f.data.length === 1 && f.data[0].embedding.length === 8, 'dimensions and float encoding');
  },
  async responses_embeddings_errors() {
    await rejects(openai().responses.create({ model: 'gpt-9', input: 'x' }), OpenAI.NotFoundError, 404);
    await rejects(openai(tokenB).embeddings.create({ model: 'text-embedding-3-small', input: 'x' }), OpenAI.PermissionDeniedError, 403);
    const e = await rejects(openai().embeddings.create({ model: 'text-embedding-3-small' }), OpenAI.BadRequestError, 400);
    assert(/body\.input/.test(e.message), `message names the field: ${e.message}`);
    const m = await openai().models.retrieve('gpt-4o-mini');
    assert(m.id === 'gpt-4o-mini' && m.object === 'model', `model ${JSON.stringify(m)}`);
    await rejects(openai(tokenB).models.retrieve('gpt-4o'), OpenAI.NotFoundError, 404);
  },
  async responses_stream_error_after_first_byte() {
    await mockConfig({ faults: { sseError: 1.0 } });
    try {
      const s = await openai().responses.create({ model: 'gpt-4o-mini', input: 'x', max_output_tokens: 30, stream: true });
      await rejects((async () => { for await (const _ of s) { /* drain */ } })(), OpenAI.APIError);
    } finally {
      await mockConfig({ faults: { sseError: 0 } });
    }
  },
  async openai_models() {
    // Token B may use one model of each dialect; each SDK is shown the one
    // it can reach (the gateway does not translate between dialects).
    const list = await openai(tokenB).models.list();
    const ids = list.data.map((m) => m.id).sort();
    assert(JSON.stringify(ids) === JSON.stringify(['gpt-4o-mini']), `OpenAI models ${ids}`);
    const claude = [];
    for await (const m of anthropic(tokenB).models.list()) claude.push(m.id);
    assert(JSON.stringify(claude) === JSON.stringify(['claude-haiku-4-5']), `Anthropic models ${claude}`);
    assert((await anthropic(tokenB).models.retrieve('claude-haiku-4-5')).type === 'model', 'Anthropic model entry');
    const wrongDialect = await rejects(openai(tokenB).models.retrieve('claude-haiku-4-5'), OpenAI.NotFoundError, 404);
    assert(/served to anthropic clients of this gateway \(\/v1\/messages\)/.test(wrongDialect.message), wrongDialect.message);
  },
  async anthropic_messages() {
    const { data: m, response } = await anthropic().messages.create(msg()).withResponse();
    assert(m.content[0].text.length > 0 && m.usage.output_tokens === 8, `message ${JSON.stringify(m)}`);
    // Token A's own budget, under the names an Anthropic client reads.
    assert(response.headers.get('anthropic-ratelimit-requests-limit') === '600', 'no anthropic-ratelimit-requests-limit');
    // Per minute, like the limit (what has refilled since counts again).
    const remaining = Number(response.headers.get('anthropic-ratelimit-requests-remaining'));
    assert(Number.isInteger(remaining) && remaining >= 0 && remaining <= 600, `anthropic-ratelimit-requests-remaining ${remaining}`);
    const reset = Date.parse(response.headers.get('anthropic-ratelimit-requests-reset'));
    assert(Math.abs(reset - Date.now()) < 120000, `anthropic-ratelimit-requests-reset ${response.headers.get('anthropic-ratelimit-requests-reset')}`);
    assert(response.headers.get('x-ratelimit-limit-requests') === null, 'OpenAI names on an Anthropic answer');
  },
  async anthropic_messages_x_api_key() {
    const r = await fetch(`${gw}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': tokenA, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify(msg()),
    });
    assert(r.status === 200, `status ${r.status}`);
  },
  async anthropic_stream() {
    const s = anthropic().messages.stream(msg({ max_tokens: 12 }));
    let deltas = 0;
    s.on('text', () => deltas++);
    const final = await s.finalMessage();
    assert(deltas >= 2 && final.usage.output_tokens === 12, `deltas ${deltas} usage ${JSON.stringify(final.usage)}`);
  },
  async anthropic_tool_use_roundtrip() {
    const m = await anthropic().messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 8,
      tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '21 degrees' }] },
      ],
    });
    assert(m.content.length > 0, 'empty content');
  },
  async anthropic_betas_reach_the_provider() {
    // The SDK's `betas` option sends anthropic-beta (on /v1/messages?beta=true);
    // the gateway passes it on with the SDK's anthropic-version, so the
    // provider (the mock knows betas only as dated names) serves a dated one
    // and refuses one it does not know, streamed or not.
    const r = await anthropic().beta.messages.create({ ...msg(), betas: ['context-1m-2025-08-07'] });
    assert(r.usage.output_tokens === 8, `usage ${JSON.stringify(r.usage)}`);
    for (const stream of [false, true]) {
      const e = await rejects(anthropic().beta.messages.create({ ...msg({ stream }), betas: ['no-such-beta'] }),
        Anthropic.BadRequestError, 400);
      assert(e.message.includes('`no-such-beta`'), `stream ${stream}: ${e.message}`);
    }
    const v = await fetch(`${gw}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokenA}`, 'anthropic-version': 'latest', 'content-type': 'application/json' },
      body: JSON.stringify(msg()),
    });
    assert(v.status === 400 && (await v.text()).includes("'latest' is not a version"), `version: status ${v.status}`);
  },
  async anthropic_count_tokens() {
    const r = await anthropic().messages.countTokens({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'Hello there, how are you?' }] });
    assert(r.input_tokens > 0, `count ${JSON.stringify(r)}`);
  },
  async error_missing_token() {
    const r = await fetch(`${gw}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chat()) });
    assert(r.status === 401, `status ${r.status}`);
    assert((await r.json()).error.code === 'invalid_api_key', 'OpenAI error shape');
  },
  async error_wrong_token() {
    await rejects(openai('sk-wrong').chat.completions.create(chat()), OpenAI.AuthenticationError, 401);
    const e = await rejects(anthropic('sk-wrong').messages.create(msg()), Anthropic.AuthenticationError, 401);
    assert(e.error?.error?.type === 'authentication_error', `Anthropic error shape ${JSON.stringify(e.error)}`);
  },
  async error_unknown_model() {
    await rejects(openai().chat.completions.create(chat({ model: 'gpt-9' })), OpenAI.NotFoundError, 404);
    await rejects(anthropic().messages.create(msg({ model: 'claude-9' })), Anthropic.NotFoundError, 404);
  },
  async error_model_not_allowed() {
    await rejects(openai(tokenB).chat.completions.create(chat({ model: 'gpt-4o' })), OpenAI.PermissionDeniedError, 403);
  },
  async error_bad_request() {
    const r = await fetch(`${gw}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokenA}`, 'anthropic-version': '2026-10-21' },
      body: '{"model": "claude-haiku-4-5", ',
    });
    assert(r.status === 400, `status ${r.status}`);
    const truncated = await r.json();
    assert(truncated.error.type === 'invalid_request_error', 'Anthropic error shape');
    // The message says where the JSON went wrong, not only that it did.
    assert(/not valid JSON: .*line 1, column 31/.test(truncated.error.message), truncated.error.message);
    const post = (body, headers = {}) => fetch(`${gw}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${tokenA}`, 'content-type': 'application/json', ...headers }, body,
    });
    const array = await post('[1, 2]');
    assert(array.status === 400 && /a JSON array, not an object/.test((await array.json()).error.message), 'array body');
    const empty = await post('');
    assert(empty.status === 400 && /body is empty/.test((await empty.json()).error.message), 'empty body');
    // A number no double holds: JSON's grammar allows it, the parser refuses it.
    const overflow = await post('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"seed":1e400}');
    const overflowError = await overflow.json();
    assert(overflow.status === 400 && /not valid JSON: number overflow/.test(overflowError.error.message),
           `number overflow: ${overflow.status} ${JSON.stringify(overflowError)}`);
    // A path it does not serve: 404 that says so, not "model not found".
    const noRoute = await fetch(`${gw}/v1/chat/completion`, { method: 'POST', body: '{}' });
    const noRouteError = await noRoute.json();
    assert(noRoute.status === 404 && noRouteError.error.code === null &&
           /serves no POST \/v1\/chat\/completion$/.test(noRouteError.error.message), JSON.stringify(noRouteError));
    // Headers over the limit, and a malformed head, are refused by name
    // before any dialect is known.
    const rawAnswer = (head) => new Promise((resolve, reject) => {
      const sock = net.connect(new URL(gw).port, '127.0.0.1');
      let got = '';
      sock.on('data', (d) => { got += d; });
      sock.on('close', () => resolve(got));
      sock.on('error', reject);
      sock.write(head);
    });
    const big = await rawAnswer(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40000)}\r\n\r\n`);
    assert(/^HTTP\/1\.1 431 /.test(big) && /header limit exceeded/.test(big), `big head: ${big.slice(0, 200)}`);
    const badLength = await rawAnswer('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n');
    assert(/^HTTP\/1\.1 400 /.test(badLength) && /Content-Length/i.test(badLength), `bad length: ${badLength.slice(0, 200)}`);
    // A compressed body is named as such (415), not taken for malformed JSON.
    const gz = await post(zlib.gzipSync(JSON.stringify(chat())), { 'content-encoding': 'gzip' });
    const gzError = await gz.json();
    assert(gz.status === 415 && gzError.error.code === 'unsupported_content_encoding' &&
           /content-encoding gzip/.test(gzError.error.message), `gzip body: ${gz.status} ${JSON.stringify(gzError)}`);
    // A body the provider refuses: its own 400 reaches the client.
    await rejects(openai().chat.completions.create({ model: 'gpt-4o-mini', messages: 'not a list' }), OpenAI.BadRequestError, 400);
  },
  async error_body_too_large() {
    const big = 'x'.repeat(300 * 1024);
    const r = await fetch(`${gw}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokenA}`, 'content-type': 'application/json' },
      body: JSON.stringify(chat({ messages: [{ role: 'user', content: big }] })),
    });
    assert(r.status === 413, `status ${r.status}`);
    assert((await r.json()).error.type === 'invalid_request_error', 'OpenAI error shape');
  },
  async error_rate_limited_tenant() {
    // TOKEN_SMALL allows 1 request a minute: the second cannot be admitted
    // within the hold time and is told when to come back.
    await openai(tokenSmall).chat.completions.create(chat());
    const e = await rejects(openai(tokenSmall).chat.completions.create(chat()), OpenAI.RateLimitError, 429);
    const ra = Number(e.headers.get('retry-after'));
    const raMs = Number(e.headers.get('retry-after-ms'));
    assert(ra > 0 && ra <= 60 && raMs > 0 && raMs <= 60000, `retry-after ${ra} / ${raMs}`);
    assert(e.headers.get('x-should-retry') === 'true', 'x-should-retry');
    const e2 = await rejects(anthropic(tokenSmall).messages.create(msg()), Anthropic.RateLimitError, 429);
    assert(e2.error?.error?.type === 'rate_limit_error', 'Anthropic error shape');
  },
  async hold_expires_429_on_provider_limit() {
    // gpt-4o is limited to 1 request a minute in the test config, and the
    // hold is 3 s: the first goes, the next two wait in the queue and are
    // told to retry later, within the SDKs' 60 s.
    await openai().chat.completions.create(chat({ model: 'gpt-4o' }));
    const t0 = performance.now();
    const [e1, e2] = await Promise.all([
      rejects(openai().chat.completions.create(chat({ model: 'gpt-4o' })), OpenAI.RateLimitError, 429),
      rejects(openai().chat.completions.create(chat({ model: 'gpt-4o' })), OpenAI.RateLimitError, 429),
    ]);
    const waited = performance.now() - t0;
    assert(waited < 10000, `answered after ${waited} ms, hold is 3 s`);
    for (const e of [e1, e2]) {
      const raMs = Number(e.headers.get('retry-after-ms'));
      assert(raMs > 0 && raMs <= 60000 && e.headers.get('x-should-retry') === 'true', `retry headers ${raMs}`);
    }
  },
  async error_upstream_5xx_retried_then_502() {
    await mockConfig({ faults: { http500: 1.0 } });
    try {
      await rejects(openai().chat.completions.create(chat()), OpenAI.InternalServerError, 502);
      await rejects(anthropic().messages.create(msg()), Anthropic.InternalServerError, 502);
    } finally {
      await mockConfig({ faults: { http500: 0 } });
    }
    const before = (await mockStats()).faults.http500;
    assert(before >= 4, `the engine retried inside Sluice: ${before} 500s at the mock`);
  },
  async error_after_first_byte_is_sse_error() {
    await mockConfig({ faults: { sseError: 1.0 } });
    try {
      const s = await openai().chat.completions.create(chat({ stream: true, max_tokens: 30 }));
      await rejects((async () => { for await (const _ of s) { /* drain */ } })(), OpenAI.APIError);
      const a = anthropic().messages.stream(msg({ max_tokens: 30 }));
      await rejects(a.finalMessage(), Anthropic.APIError);
    } finally {
      await mockConfig({ faults: { sseError: 0 } });
    }
  },
  async client_timeout() {
    // 500 output tokens take the mock ~5 s; the client gives up at 300 ms.
    await rejects(openai(tokenA, { timeout: 300 }).chat.completions.create(chat({ max_tokens: 500 })), OpenAI.APIConnectionTimeoutError);
    const r = await openai().chat.completions.create(chat());
    assert(r.choices.length === 1, 'gateway still serves');
  },
  async client_disconnect_mid_stream() {
    const controller = new AbortController();
    const s = await openai().chat.completions.create(chat({ stream: true, max_tokens: 2000 }), { signal: controller.signal });
    let chunks = 0;
    let during = 0;
    try {
      for await (const _ of s) {
        if (++chunks === 3) {
          during = (await mockStats()).openConnections;
          controller.abort();
        }
      }
    } catch (e) {
      assert(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', `abort: ${e.constructor.name}`);
    }
    // The upstream transfer (20 s of tokens) is cut at once: the mock sees
    // its connection close.
    let after = during;
    for (let i = 0; i < 40 && after >= during; i++) {
      await sleep(50);
      after = (await mockStats()).openConnections;
    }
    assert(after < during, `upstream connection still open (${during} -> ${after})`);
  },
  async slowloris_does_not_block_others() {
    const sock = net.connect(new URL(gw).port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n');
    const closed = new Promise((r) => sock.once('close', r));
    const drip = setInterval(() => sock.write('x-drip: 1\r\n'), 200);
    // Others are served while it drips.
    const r = await openai().chat.completions.create(chat());
    assert(r.choices.length === 1, 'served during slowloris');
    // The gateway closes it after its request timeout (1 s in the test config).
    const timedOut = await Promise.race([closed.then(() => false), sleep(5000).then(() => true)]);
    clearInterval(drip);
    sock.destroy();
    assert(!timedOut, 'slow request never closed');
  },
};

let failed = 0;
for (const [name, fn] of Object.entries(checks)) {
  if (only.length > 0 && !only.includes(name)) continue;
  try {
    await fn();
    console.log(`ok ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message}`);
  }
}
process.exit(failed > 0 ? 1 : 0);
