// Converts js-tiktoken's rank tables (MIT) into the rank files Sluice loads
// (resources/tokenizers/NAME.ranks). js-tiktoken is the reference: the split
// pattern and the special tokens are copied from it, not retyped, so the C++
// tokenizer cannot disagree with it on them.
//
// Usage: node tools/tiktoken/convert-ranks.mjs OUTDIR
//
// File format (UTF-8 text, one record a line):
//   sluice-bpe-ranks 1
//   source js-tiktoken VERSION (MIT)
//   name ENCODING
//   pattern REGEX            (the pre-tokenisation regex, as js-tiktoken runs it)
//   special RANK TEXT        (zero or more)
//   count N
//   then N lines: the base64 of the bytes of the token of rank 0, 1, ... N-1.
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const outDir = process.argv[2];
if (!outDir) {
  console.error('usage: node convert-ranks.mjs OUTDIR');
  process.exit(2);
}
// The package exports no package.json; read it beside this script.
const here = path.dirname(new URL(import.meta.url).pathname);
const version = JSON.parse(readFileSync(path.join(here, 'node_modules/js-tiktoken/package.json'), 'utf8')).version;

for (const name of ['o200k_base', 'cl100k_base']) {
  const ranks = require(`js-tiktoken/ranks/${name}`);
  if (/[\r\n]/.test(ranks.pat_str)) {
    throw new Error(`${name}: the pattern holds a line break; the file format cannot carry it`);
  }
  // js-tiktoken's compact form: lines "MARK OFFSET TOKEN TOKEN ...", each
  // token the base64 of its bytes, ranked OFFSET, OFFSET+1, ...
  const byRank = [];
  for (const line of ranks.bpe_ranks.split('\n').filter(Boolean)) {
    const [, offsetText, ...tokens] = line.split(' ');
    const offset = Number.parseInt(offsetText, 10);
    tokens.forEach((t, i) => { byRank[offset + i] = t; });
  }
  for (let r = 0; r < byRank.length; ++r) {
    if (byRank[r] === undefined) {
      throw new Error(`${name}: rank ${r} is missing; the file format needs ranks 0..N-1 without gaps`);
    }
  }
  const lines = [
    'sluice-bpe-ranks 1',
    `source js-tiktoken ${version} (MIT)`,
    `name ${name}`,
    `pattern ${ranks.pat_str}`,
    ...Object.entries(ranks.special_tokens).map(([text, rank]) => `special ${rank} ${text}`),
    `count ${byRank.length}`,
    ...byRank,
  ];
  const target = path.join(outDir, `${name}.ranks`);
  writeFileSync(`${target}.tmp`, lines.join('\n') + '\n');
  renameSync(`${target}.tmp`, target);
  console.log(`${target}: ${byRank.length} ranks, ${Object.keys(ranks.special_tokens).length} special tokens`);
}
