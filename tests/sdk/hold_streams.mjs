// Opens N streaming chat completions at once against URL and keeps them
// open (bench/gateway_vs_nginx.sh reads the server's memory meanwhile).
// Prints "held N" once every stream has delivered its first bytes, then
// "done C" when they have ended (C completed normally).
//   node hold_streams.mjs URL N
import http from 'node:http';

const [url, nArg] = process.argv.slice(2);
const n = Number(nArg);
const target = new URL('/v1/chat/completions', url);
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
const body = JSON.stringify({ model: 'gpt-4o-mini', stream: true, max_tokens: 100, messages: [{ role: 'user', content: 'Hello' }] });
let started = 0;
let completed = 0;
let failed = 0;
let finished = 0;
const reasons = {};
const why = (r) => (reasons[r] = (reasons[r] ?? 0) + 1);
const report = () => {
  if (started === n) console.log(`held ${n}`);
};
const one = () =>
  new Promise((resolve) => {
    let first = true;
    const req = http.request(target, { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: 'Bearer sk-mock' } }, (res) => {
      res.on('data', () => {
        if (first) {
          first = false;
          started++;
          report();
        }
      });
      res.on('end', () => {
        if (res.statusCode === 200) completed++;
        else {
          failed++;
          why(`HTTP ${res.statusCode}`);
        }
        resolve();
      });
    });
    req.on('error', (e) => {
      failed++;
      why(e.code ?? e.message);
      resolve();
    });
    req.end(body);
  }).then(() => finished++);
// Opened 250 at a time so the listen backlog is never the limit.
const all = [];
for (let i = 0; i < n; i += 250) {
  for (let k = i; k < Math.min(n, i + 250); k++) all.push(one());
  await new Promise((r) => setTimeout(r, 50));
}
await Promise.all(all);
console.log(`done ${completed} (failed ${failed}${failed ? ': ' + JSON.stringify(reasons) : ''})`);
