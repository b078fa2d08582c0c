// js-tiktoken's side of bench/tokenizer_bench: encodes each text file of DIR
// under ENCODING for at least MIN_SECONDS after a warm-up, and prints one
// line per file: "NAME TOKENS TOKENS_PER_SECOND".
//
// Usage: node tools/tiktoken/bench.mjs ENCODING DIR MIN_SECONDS
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Tiktoken } from 'js-tiktoken/lite';

const require = createRequire(import.meta.url);
const [encoding, dir, minSecondsText] = process.argv.slice(2);
if (!encoding || !dir) {
  console.error('usage: node bench.mjs ENCODING DIR MIN_SECONDS');
  process.exit(2);
}
const minSeconds = Number(minSecondsText ?? '1');
const enc = new Tiktoken(require(`js-tiktoken/ranks/${encoding}`));
for (const name of readdirSync(dir).sort()) {
  const text = new TextDecoder('utf-8').decode(readFileSync(path.join(dir, name)));
  const tokens = enc.encode(text, [], []).length;  // warm-up (JIT) and the count to compare
  let rounds = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  do {
    enc.encode(text, [], []);
    ++rounds;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  } while (elapsed < minSeconds);
  console.log(`${name} ${tokens} ${(tokens * rounds) / elapsed}`);
}
