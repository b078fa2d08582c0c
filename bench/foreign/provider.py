#!/usr/bin/env python3
"""Independent fake OpenAI-compatible provider (stdlib asyncio), enforcing limits itself.

Modes (--mode):
  rpm1s     a) RPM enforced as RPM/60 per fixed 1-second window, no rate-limit headers
  rpm60     b) RPM over a sliding 60 s window (log of arrival times), no headers
  tpm1s     c) TPM as TPM/60 per fixed 1-second window, charging prompt (ceil(chars/3.5)+4/msg)
               + max_tokens at arrival, never corrected, no headers
  tpmbucket d) TPM as a continuously refilling token bucket (capacity TPM/60*--bucket-s,
               refill TPM/60 per s); arrival refused if level < prompt tokens; charged
               the real usage (prompt+completion) when the answer is complete; no headers
  rpm1s_hdr e) like rpm1s, with x-ratelimit-* headers as OpenAI sends them
               (limit = per-minute figure, remaining/reset from a continuously
               refilling per-minute bucket, which is NOT what is enforced)
Every arrival is logged (CSV) to --log.
"""
import argparse, asyncio, collections, json, math, random, sys, time, os

ap = argparse.ArgumentParser()
ap.add_argument('--port', type=int, default=8190)
ap.add_argument('--mode', required=True, choices=['rpm1s', 'rpm60', 'tpm1s', 'tpmbucket', 'rpm1s_hdr', 'tpm60'])
ap.add_argument('--rpm', type=int, default=0)
ap.add_argument('--tpm', type=int, default=0)
ap.add_argument('--bucket-s', type=float, default=1.0, help='tpmbucket capacity in seconds of refill')
ap.add_argument('--lat-min', type=float, default=0.2)
ap.add_argument('--lat-max', type=float, default=0.8)
ap.add_argument('--log', required=True)
ap.add_argument('--seed', type=int, default=1)
args = ap.parse_args()
rnd = random.Random(args.seed)

logf = open(args.log, 'w', buffering=1 << 16)
logf.write('t_arrival,status,charged,prompt_tokens,max_tokens,completion_tokens,stream,t_done,inflight\n')
inflight = 0

def my_prompt_tokens(messages):
    n = 0
    for m in messages:
        c = m.get('content', '')
        if isinstance(c, list):
            c = ''.join(p.get('text', '') for p in c if isinstance(p, dict))
        n += math.ceil(len(c) / 3.5) + 4
    return n + 2

def go_dur(s):
    if s <= 0:
        return '0s'
    if s < 1:
        return f'{max(1, int(round(s * 1000)))}ms'
    m, sec = divmod(s, 60)
    if m >= 1:
        return f'{int(m)}m{sec:.3f}s'.replace('.000s', 's')
    return f'{sec:.3f}s'

# ---------------- limiters ----------------
class FixedWindow:
    def __init__(self, per_s):
        self.per_s = per_s; self.win = None; self.used = 0
    def try_take(self, now, amount):
        w = int(now)
        if w != self.win:
            self.win = w; self.used = 0
        if self.used + amount > self.per_s:
            return False, (w + 1 - now)
        self.used += amount
        return True, 0

class Sliding60:
    def __init__(self, limit):
        self.limit = limit; self.log = collections.deque()
    def try_take(self, now, amount=1):
        while self.log and self.log[0] <= now - 60:
            self.log.popleft()
        if len(self.log) + 1 > self.limit:
            return False, self.log[0] + 60 - now
        self.log.append(now)
        return True, 0

class SlidingTok60:
    def __init__(self, limit):
        self.limit = limit; self.log = collections.deque(); self.sum = 0
    def try_take(self, now, amount):
        while self.log and self.log[0][0] <= now - 60:
            self.sum -= self.log.popleft()[1]
        if self.sum + amount > self.limit:
            acc = self.sum; wait = 60
            for t, a in self.log:
                acc -= a
                if acc + amount <= self.limit:
                    wait = t + 60 - now; break
            return False, wait
        self.log.append((now, amount)); self.sum += amount
        return True, 0

class Bucket:
    def __init__(self, rate_per_s, cap):
        self.rate = rate_per_s; self.cap = cap; self.level = cap; self.t = time.time()
    def refill(self, now):
        self.level = min(self.cap, self.level + (now - self.t) * self.rate); self.t = now

rpm_fixed = FixedWindow(args.rpm / 60) if args.mode in ('rpm1s', 'rpm1s_hdr') else None
rpm_slide = Sliding60(args.rpm) if args.mode == 'rpm60' else None
tpm_fixed = FixedWindow(args.tpm / 60) if args.mode == 'tpm1s' else (SlidingTok60(args.tpm) if args.mode == 'tpm60' else None)
tpm_bucket = Bucket(args.tpm / 60, args.tpm / 60 * args.bucket_s) if args.mode == 'tpmbucket' else None
# shadow per-minute buckets for the headers of mode e
hdr_req = Bucket(args.rpm / 60, args.rpm) if args.mode == 'rpm1s_hdr' else None
hdr_tok = Bucket(args.tpm / 60, args.tpm) if args.mode == 'rpm1s_hdr' and args.tpm else None

def rl_headers(now):
    if hdr_req is None:
        return []
    hdr_req.refill(now)
    h = [('x-ratelimit-limit-requests', str(args.rpm)),
         ('x-ratelimit-remaining-requests', str(max(0, int(hdr_req.level)))),
         ('x-ratelimit-reset-requests', go_dur(max(0.0, (hdr_req.cap - hdr_req.level) / hdr_req.rate)))]
    if hdr_tok is not None:
        hdr_tok.refill(now)
        h += [('x-ratelimit-limit-tokens', str(args.tpm)),
              ('x-ratelimit-remaining-tokens', str(max(0, int(hdr_tok.level)))),
              ('x-ratelimit-reset-tokens', go_dur(max(0.0, (hdr_tok.cap - hdr_tok.level) / hdr_tok.rate)))]
    return h

WORDS = ('the of and to in is that for it as with was on be by this are from at or an have not '
         'which but they all were we can there one more been has if will their what when so no '
         'model request token limit answer system provider gateway budget').split()

def text_of(n_tokens):
    return ' '.join(rnd.choice(WORDS) for _ in range(max(1, n_tokens)))

def err429(kind, limit, used, requested, wait):
    what = 'requests per min (RPM)' if kind == 'requests' else 'tokens per min (TPM)'
    return {'error': {'message': f'Rate limit reached for gpt-4o-mini in organization org-foreign on {what}: '
                                 f'Limit {limit}, Used {used}, Requested {requested}. Please try again in {go_dur(max(wait, 0.001))}. '
                                 'Visit https://platform.openai.com/account/rate-limits to learn more.',
                      'type': kind, 'param': None, 'code': 'rate_limit_exceeded'}}

def head(status, reason, headers, length=None, chunked=False):
    lines = [f'HTTP/1.1 {status} {reason}', 'content-type: ' + ('text/event-stream' if chunked else 'application/json'),
             'x-request-id: req_%016x' % rnd.getrandbits(64), 'openai-version: 2020-10-01']
    if chunked:
        lines.append('transfer-encoding: chunked')
    else:
        lines.append(f'content-length: {length}')
    lines += [f'{k}: {v}' for k, v in headers]
    return ('\r\n'.join(lines) + '\r\n\r\n').encode()

async def send_json(w, status, reason, obj, headers):
    b = json.dumps(obj).encode()
    w.write(head(status, reason, headers, len(b)) + b)
    await w.drain()

async def handle_chat(body, w):
    global inflight
    now = time.time()
    try:
        req = json.loads(body)
    except Exception:
        await send_json(w, 400, 'Bad Request', {'error': {'message': 'bad json', 'type': 'invalid_request_error', 'param': None, 'code': None}}, [])
        return
    msgs = req.get('messages', [])
    pt = my_prompt_tokens(msgs)
    mt = req.get('max_completion_tokens') or req.get('max_tokens') or 4096
    n = req.get('n') or 1
    stream = bool(req.get('stream'))
    charged = 0
    ok, wait, kind, lim, used, requested = True, 0, '', 0, 0, 1
    if rpm_fixed:
        ok, wait = rpm_fixed.try_take(now, 1); kind, lim, used = 'requests', args.rpm, int(rpm_fixed.used); charged = 1
    elif rpm_slide:
        ok, wait = rpm_slide.try_take(now, 1); kind, lim, used = 'requests', args.rpm, len(rpm_slide.log); charged = 1
    elif tpm_fixed:
        c = pt + mt * n
        ok, wait = tpm_fixed.try_take(now, c); kind, lim, used, requested = 'tokens', args.tpm, int(getattr(tpm_fixed, 'used', getattr(tpm_fixed, 'sum', 0))), c
        charged = c
    elif tpm_bucket:
        tpm_bucket.refill(now)
        if tpm_bucket.level < pt:
            ok = False; wait = (pt - tpm_bucket.level) / tpm_bucket.rate
            kind, lim, used, requested = 'tokens', args.tpm, int(args.tpm - max(tpm_bucket.level, 0) * 60 / args.bucket_s), pt
    if ok and hdr_req is not None:
        hdr_req.refill(now); hdr_req.level -= 1
        if hdr_tok is not None:
            hdr_tok.refill(now); hdr_tok.level -= pt + mt
    hdrs = rl_headers(now)
    if not ok:
        logf.write(f'{now:.4f},429,0,{pt},{mt},0,{int(stream)},{now:.4f},{inflight}\n')
        await send_json(w, 429, 'Too Many Requests', err429(kind, lim, used, requested, wait), hdrs)
        return
    inflight += 1
    try:
        lat = rnd.uniform(args.lat_min, args.lat_max)
        ct = rnd.randint(max(1, mt // 5), mt) if mt < 4096 else rnd.randint(10, 200)
        content = text_of(ct)
        usage = {'prompt_tokens': pt, 'completion_tokens': ct, 'total_tokens': pt + ct}
        rid = 'chatcmpl-%012x' % rnd.getrandbits(48)
        created = int(now)
        if not stream:
            await asyncio.sleep(lat)
            obj = {'id': rid, 'object': 'chat.completion', 'created': created, 'model': req.get('model', 'gpt-4o-mini'),
                   'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': content}, 'finish_reason': 'stop'}],
                   'usage': usage}
            await send_json(w, 200, 'OK', obj, hdrs)
        else:
            inc = bool((req.get('stream_options') or {}).get('include_usage'))
            w.write(head(200, 'OK', hdrs, chunked=True))
            def chunk(obj):
                d = b'data: ' + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b'\n\n'
                return b'%x\r\n' % len(d) + d + b'\r\n'
            base = {'id': rid, 'object': 'chat.completion.chunk', 'created': created, 'model': req.get('model', 'gpt-4o-mini')}
            words = content.split(' ')
            parts = 4
            step = max(1, len(words) // parts)
            await asyncio.sleep(lat / 2)
            w.write(chunk(dict(base, choices=[{'index': 0, 'delta': {'role': 'assistant', 'content': ''}, 'finish_reason': None}], **({'usage': None} if inc else {}))))
            for i in range(0, len(words), step):
                await asyncio.sleep(lat / 2 / parts)
                w.write(chunk(dict(base, choices=[{'index': 0, 'delta': {'content': ' '.join(words[i:i + step]) + ' '}, 'finish_reason': None}], **({'usage': None} if inc else {}))))
            w.write(chunk(dict(base, choices=[{'index': 0, 'delta': {}, 'finish_reason': 'stop'}], **({'usage': None} if inc else {}))))
            if inc:
                w.write(chunk(dict(base, choices=[], usage=usage)))
            w.write(chunk(b'[DONE]'))
            w.write(b'0\r\n\r\n')
            await w.drain()
        done = time.time()
        if tpm_bucket:
            tpm_bucket.refill(done); tpm_bucket.level -= pt + ct
            charged = pt + ct
        logf.write(f'{now:.4f},200,{charged},{pt},{mt},{ct},{int(stream)},{done:.4f},{inflight}\n')
    finally:
        inflight -= 1

async def conn(r, w):
    try:
        while True:
            line = await r.readline()
            if not line:
                break
            parts = line.decode('latin1').split()
            if len(parts) < 2:
                break
            method, path = parts[0], parts[1]
            hdr = {}
            while True:
                l = await r.readline()
                if l in (b'\r\n', b'\n', b''):
                    break
                k, _, v = l.decode('latin1').partition(':')
                hdr[k.strip().lower()] = v.strip()
            body = b''
            if 'content-length' in hdr:
                body = await r.readexactly(int(hdr['content-length']))
            if method == 'POST' and path.rstrip('/').endswith('/chat/completions'):
                await handle_chat(body, w)
            elif method == 'GET' and path.startswith('/v1/models'):
                await send_json(w, 200, 'OK', {'object': 'list', 'data': [{'id': 'gpt-4o-mini', 'object': 'model', 'created': 0, 'owned_by': 'foreign'}]}, [])
            else:
                await send_json(w, 404, 'Not Found', {'error': {'message': f'no route {method} {path}', 'type': 'invalid_request_error', 'param': None, 'code': None}}, [])
            if hdr.get('connection', '').lower() == 'close':
                break
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        try:
            w.close()
        except Exception:
            pass

async def main():
    import signal
    loop = asyncio.get_running_loop()
    def stop():
        logf.flush(); os._exit(0)
    loop.add_signal_handler(signal.SIGTERM, stop)
    loop.add_signal_handler(signal.SIGINT, stop)
    srv = await asyncio.start_server(conn, '127.0.0.1', args.port, backlog=1024)
    print(f'fakeprov {args.mode} rpm={args.rpm} tpm={args.tpm} on {args.port}', flush=True)
    async def flusher():
        while True:
            await asyncio.sleep(1); logf.flush()
    asyncio.create_task(flusher())
    async with srv:
        await srv.serve_forever()

try:
    asyncio.run(main())
except KeyboardInterrupt:
    pass
finally:
    logf.flush()
