// js-tiktoken as the reference for Sluice's C++ tokenizer (engine/tokenize).
//
//   node reference.mjs expect DATA_DIR          prints the expectations for
//        DATA_DIR/corpus/* and DATA_DIR/chat.json (commit as DATA_DIR/expected.json)
//   node reference.mjs check DATA_DIR           recomputes them live and compares
//        with the committed DATA_DIR/expected.json; exit 1 on any difference
//   node reference.mjs random SEED COUNT OUT    writes COUNT random mixed-script
//        strings with their token ids under both encodings (for the C++ test)
//
// Text is encoded as tiktoken's encode_ordinary does (special-token text is
// ordinary text); corpus files are decoded as WHATWG UTF-8 (U+FFFD for
// ill-formed bytes), as the C++ tokenizer reads them.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Tiktoken, getEncodingNameForModel } from 'js-tiktoken/lite';

const require = createRequire(import.meta.url);
const here = path.dirname(new URL(import.meta.url).pathname);
const version = JSON.parse(readFileSync(path.join(here, 'node_modules/js-tiktoken/package.json'), 'utf8')).version;
const ENCODINGS = ['o200k_base', 'cl100k_base'];
const encoders = Object.fromEntries(ENCODINGS.map((n) => [n, new Tiktoken(require(`js-tiktoken/ranks/${n}`))]));
const encode = (enc, text) => encoders[enc].encode(text, [], []);

// The encoding Sluice picks for a model (engine/tokenize/encodings.cpp);
// js-tiktoken's own table knows only exact names, so it is asked first.
function encodingFor(model) {
  try {
    return getEncodingNameForModel(model);
  } catch {
    return /^(gpt-4o|gpt-4\.1|gpt-5|o\d)/.test(model) ? 'o200k_base' : 'cl100k_base';
  }
}

// OpenAI's cookbook, "How to count tokens with tiktoken": num_tokens_from_messages
// and num_tokens_for_tools, with the image and tool_calls approximations
// engine/tokenize/chat_tokens.h documents.
function chatTokens(model, body) {
  const enc = encodingFor(model);
  const count = (s) => (typeof s === 'string' ? encode(enc, s).length : 0);
  const legacy = model.startsWith('gpt-3.5-turbo-0301');
  const perMessage = legacy ? 4 : 3;
  const perName = legacy ? -1 : 1;
  let n = 3;
  for (const m of body.messages ?? []) {
    n += perMessage;
    for (const [key, value] of Object.entries(m)) {
      if (key === 'content' && Array.isArray(value)) {
        for (const part of value) {
          if (typeof part === 'string') n += count(part);
          else if ('text' in part) n += count(part.text);
          else if ('image_url' in part) n += part.image_url?.detail === 'low' ? 85 : 765;
        }
      } else if (key === 'tool_calls') {
        for (const call of value ?? []) n += 3 + count(call.function?.name) + count(call.function?.arguments);
      } else {
        n += count(value);
      }
      if (key === 'name') n += perName;
    }
  }
  const fns = [...(body.tools ?? []).map((t) => t.function).filter(Boolean), ...(body.functions ?? [])];
  if (fns.length > 0) {
    const funcInit = enc === 'cl100k_base' ? 10 : 7;
    const trim = (s) => (s.endsWith('.') ? s.slice(0, -1) : s);
    for (const f of fns) {
      n += funcInit + count(`${f.name ?? ''}:${trim(f.description ?? '')}`);
      const props = f.parameters?.properties ?? {};
      if (Object.keys(props).length > 0) {
        n += 3;
        for (const [key, p] of Object.entries(props)) {
          n += 3;
          if (Array.isArray(p.enum)) {
            n += -3;
            for (const item of p.enum) n += 3 + count(String(item));
          }
          n += count(`${key}:${p.type ?? ''}:${trim(p.description ?? '')}`);
        }
      }
    }
    n += 12;
  }
  return n;
}

function expectations(dataDir) {
  const corpusDir = path.join(dataDir, 'corpus');
  const out = { reference: `js-tiktoken ${version}`, encodings: {}, chat: {} };
  const files = readdirSync(corpusDir).sort();
  for (const enc of ENCODINGS) {
    out.encodings[enc] = {};
    for (const f of files) {
      const text = new TextDecoder('utf-8').decode(readFileSync(path.join(corpusDir, f)));
      const ids = encode(enc, text);
      out.encodings[enc][f] = { count: ids.length, ids };
    }
  }
  for (const c of JSON.parse(readFileSync(path.join(dataDir, 'chat.json'), 'utf8'))) {
    out.chat[c.name] = chatTokens(c.model, c.body);
  }
  return out;
}

// A small deterministic generator (mulberry32): the same strings every run.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomStrings(seed, count) {
  const next = rng(seed);
  const pick = (arr) => arr[Math.floor(next() * arr.length)];
  const fragments = [
    ' ', '  ', '   ', '\t', '\n', '\r\n', '\n\n', '\u00a0', '\u3000', '\ufeff', '\u0085', '\u2028', '\u200b',
    "'s", "'T", "'re", "'LL", "'d", "'", '"', '’', 'a', 'The', 'quick', 'DON', 'Hello', 'x', 'Z',
    '0', '7', '42', '123', '4567', '3.14', '١٢٣', '１２', '²', 'Ⅻ',
    '.', ',', '!', '?', '...', '—', '-', '_', '/', '\\', '{', '}', '(', ')', '[', ']', '<', '>', '=', '==', '=>',
    ';', ':', '#', '@', '$', '%', '&', '*', '+', '|', '~', '`',
    '日本', 'ご', 'カタ', 'ｶﾀ', '中文', '學', '한국', 'ㄱ', 'مرحبا', 'ُ', 'שלום', 'Привет', 'Ωμέγα', 'नमस्ते', 'ि', 'ไทย',
    'e\u0301', '\u0301', 'ǅ', 'ß', 'İ', 'ı', '😀', '👍🏽', '👨‍👩‍👧', '🇯🇵', '❤️', '1️⃣', '🫠',
    'func', 'return', 'int', 'std::', '->', '//', '/*', '*/', '<|endoftext|>',
  ];
  const out = [];
  for (let i = 0; i < count; ++i) {
    const len = 1 + Math.floor(next() * 40);
    let s = '';
    for (let k = 0; k < len; ++k) s += pick(fragments);
    out.push(s);
  }
  return out;
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'expect' && args.length === 1) {
  process.stdout.write(JSON.stringify(expectations(args[0])) + '\n');
} else if (mode === 'check' && args.length === 1) {
  const committed = JSON.parse(readFileSync(path.join(args[0], 'expected.json'), 'utf8'));
  const live = expectations(args[0]);
  const problems = [];
  for (const enc of ENCODINGS) {
    for (const [name, exp] of Object.entries(live.encodings[enc])) {
      const got = committed.encodings?.[enc]?.[name];
      if (!got) problems.push(`${enc}/${name}: missing from expected.json`);
      else if (JSON.stringify(got.ids) !== JSON.stringify(exp.ids)) problems.push(`${enc}/${name}: committed ids differ from js-tiktoken's`);
    }
  }
  for (const [name, n] of Object.entries(live.chat)) {
    if (committed.chat?.[name] !== n) problems.push(`chat/${name}: committed ${committed.chat?.[name]}, js-tiktoken ${n}`);
  }
  if (committed.reference !== live.reference) problems.push(`reference: committed ${committed.reference}, installed ${live.reference}`);
  if (problems.length > 0) {
    console.error(`expected.json has drifted from ${live.reference}:\n  ${problems.join('\n  ')}\n` +
      `regenerate: node tools/tiktoken/reference.mjs expect ${args[0]} > ${args[0]}/expected.json`);
    process.exit(1);
  }
  console.log(`expected.json matches ${live.reference}: ${Object.keys(live.encodings.o200k_base).length} texts x ${ENCODINGS.length} encodings, ${Object.keys(live.chat).length} chat requests`);
} else if (mode === 'random' && args.length === 3) {
  const strings = randomStrings(Number(args[0]), Number(args[1]));
  const cases = strings.map((text) => ({ text, ids: Object.fromEntries(ENCODINGS.map((e) => [e, encode(e, text)])) }));
  writeFileSync(args[2], JSON.stringify({ reference: `js-tiktoken ${version}`, cases }));
  console.log(`${args[2]}: ${cases.length} random strings`);
} else {
  console.error('usage: node reference.mjs expect DATA_DIR | check DATA_DIR | random SEED COUNT OUT');
  process.exit(2);
}
