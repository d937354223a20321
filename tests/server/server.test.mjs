// Tests for tests/server/server.mjs — run with `node --test tests/server/`.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, LAST_MODIFIED, LAST_MODIFIED_FLIPPED } from './server.mjs';

const MiB = 1 << 20;
const SERVER_FILE = fileURLToPath(new URL('./server.mjs', import.meta.url));
const REPO = fileURLToPath(new URL('../../', import.meta.url));

// ---- independent reference implementation of the generator -------------
const refBlocks = new Map();
function refBlock(seed) {
  if (!refBlocks.has(seed)) {
    const b = new Uint8Array(MiB);
    let x = seed >>> 0 || 1;
    for (let i = 0; i < MiB; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      b[i] = x & 0xff;
    }
    refBlocks.set(seed, b);
  }
  return refBlocks.get(seed);
}
function refBytes(seed, offset, len) {
  const b = refBlock(seed);
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i++) {
    const abs = offset + i;
    out[i] = b[abs % MiB] ^ (Math.floor(abs / MiB) & 0xff);
  }
  return out;
}
function fnv1a(str) {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(str)) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return h;
}
const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex');

// ---- HTTP helpers --------------------------------------------------------
/** Raw request (no URL normalisation), resolves with { status, headers, body, reusedSocket }. */
function request(port, urlPath, { method = 'GET', headers = {}, body, agent = false } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode,
          headers: res.headers,
          body: Buffer.concat(chunks),
          reusedSocket: req.reusedSocket,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
/** Starts a request and resolves once response headers arrive (body not consumed). */
function openResponse(port, urlPath, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, headers, agent: false }, (res) =>
      resolve({ req, res }),
    );
    req.on('error', reject);
    req.end();
  });
}
async function waitFor(fn, timeout = 3000, what = 'condition') {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
const getLog = async (port) => JSON.parse((await request(port, '/__log')).body);
/**
 * GET that tolerates a dropped connection; resolves when the response closes with
 * { status, headers, body, complete, error, arrivals: [[ms since start, bytes so far], ...] }.
 */
function download(port, urlPath, headers = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers, agent: false }, (res) => {
      const chunks = [];
      const arrivals = [];
      let got = 0;
      let error = null;
      res.on('data', (c) => {
        chunks.push(c);
        got += c.length;
        arrivals.push([Date.now() - t0, got]);
      });
      res.on('error', (e) => (error = e));
      res.on('close', () =>
        resolve({
          status: res.statusCode,
          headers: res.headers,
          body: Buffer.concat(chunks),
          complete: res.complete,
          error,
          arrivals,
          elapsed: Date.now() - t0,
        }),
      );
    });
    req.on('error', (error) => resolve({ status: null, headers: {}, body: Buffer.alloc(0), complete: false, error }));
  });
}

// ---- fixtures: a temporary www/ and fixtures/ ---------------------------
let tmp, srv, port;
const STATIC = {
  'index.html': '<!doctype html><title>root</title>',
  'app.js': 'console.log(1)',
  'sw.mjs': 'export {}',
  'mod.wasm': Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]),
  'style.css': 'body{}',
  'data.json': '{"a":1}',
  'img.png': Buffer.from([0x89, 0x50, 0x4e, 0x47]),
  'pic.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>',
  'types.ts': 'export type A = 1;',
  'app.js.map': '{"version":3}',
  'sub/index.html': '<title>sub</title>',
};
const TYPES = {
  'index.html': 'text/html',
  'app.js': 'text/javascript',
  'sw.mjs': 'text/javascript',
  'mod.wasm': 'application/wasm',
  'style.css': 'text/css',
  'data.json': 'application/json',
  'img.png': 'image/png',
  'pic.svg': 'image/svg+xml',
  'types.ts': 'text/plain',
  'app.js.map': 'application/json',
};

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bgsession-server-test-'));
  fs.writeFileSync(path.join(tmp, 'secret.txt'), 'secret');
  for (const [name, content] of Object.entries(STATIC)) {
    fs.mkdirSync(path.dirname(path.join(tmp, 'www', name)), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'www', name), content);
  }
  fs.mkdirSync(path.join(tmp, 'fix'));
  fs.writeFileSync(path.join(tmp, 'fix', 'hello.txt'), 'hello fixture');
  srv = await startServer({ root: path.join(tmp, 'www'), extraRoots: { '/fixtures/': path.join(tmp, 'fix') } });
  port = srv.port;
});
after(async () => {
  await srv.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
describe('API', () => {
  test('startServer returns port, url, log, resetLog, close', () => {
    assert.ok(port > 0);
    assert.equal(srv.url, `http://127.0.0.1:${port}`);
    assert.ok(Array.isArray(srv.log));
    assert.equal(typeof srv.resetLog, 'function');
    assert.equal(typeof srv.close, 'function');
  });

  test('defaults: www/ and tests/fixtures/ of the repo, loopback only', async () => {
    const s = await startServer();
    try {
      assert.equal(s.root, path.join(REPO, 'www'));
      assert.deepEqual(s.extraRoots, { '/fixtures/': path.join(REPO, 'tests', 'fixtures') });
      assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      await s.close();
    }
    await assert.rejects(startServer({ host: '0.0.0.0' }), /loopback/);
  });
});

describe('static files', () => {
  test('MIME types, no-cache with an ETag (304 when it matches), Service-Worker-Allowed on scripts', async () => {
    for (const [name, type] of Object.entries(TYPES)) {
      const r = await request(port, '/' + name);
      assert.equal(r.status, 200, name);
      assert.equal(r.headers['content-type'].split(';')[0], type, name);
      assert.equal(r.headers['cache-control'], 'no-cache', name);
      assert.match(r.headers.etag, /^"[0-9a-f]+-[0-9a-f]+"$/, name);
      const again = await request(port, '/' + name, { headers: { 'If-None-Match': r.headers.etag } });
      assert.equal(again.status, 304, `${name}: unchanged, not sent again`);
      assert.equal(again.body.length, 0, name);
      const other = await request(port, '/' + name, { headers: { 'If-None-Match': '"0-0"' } });
      assert.equal(other.status, 200, `${name}: another ETag gets the file`);
      assert.deepEqual(r.body, Buffer.from(STATIC[name]), name);
      assert.equal(Number(r.headers['content-length']), r.body.length, name);
      const isScript = /\.m?js$/.test(name);
      assert.equal(r.headers['service-worker-allowed'], isScript ? '/' : undefined, name);
    }
  });

  test('/ serves index.html, directories redirect to a trailing slash', async () => {
    let r = await request(port, '/');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), STATIC['index.html']);
    r = await request(port, '/sub');
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, '/sub/');
    r = await request(port, '/sub/');
    assert.equal(r.body.toString(), STATIC['sub/index.html']);
    r = await request(port, '/?x=1');
    assert.equal(r.status, 200);
  });

  test('HEAD gives headers only', async () => {
    const r = await request(port, '/app.js', { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], String(STATIC['app.js'].length));
    assert.equal(r.body.length, 0);
  });

  test('extra roots (/fixtures/)', async () => {
    let r = await request(port, '/fixtures/hello.txt');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'hello fixture');
    r = await request(port, '/fixtures');
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, '/fixtures/');
    r = await request(port, '/fixtures/nope.txt');
    assert.equal(r.status, 404);
  });

  test('404 for missing, 403 for traversal', async () => {
    assert.equal((await request(port, '/missing.js')).status, 404);
    assert.equal((await request(port, '/sub/missing/')).status, 404);
    for (const p of [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/..%2fsecret.txt',
      '/sub/../../secret.txt',
      '/fixtures/../../secret.txt',
      '/fixtures/%2e%2e%2f..%2fsecret.txt',
      '/..%5csecret.txt',
      '/%00',
    ]) {
      const r = await request(port, p);
      assert.equal(r.status, 403, p);
      assert.notEqual(r.body.toString(), 'secret', p);
    }
  });

  test('405 for other methods', async () => {
    assert.equal((await request(port, '/index.html', { method: 'DELETE' })).status, 405);
  });
});

describe('generated files', () => {
  test('known first byte of xorshift32 (seed 0 and 1 are the same)', async () => {
    for (const seed of [0, 1]) {
      const r = await request(port, `/files/a.bin?size=1&seed=${seed}`);
      assert.deepEqual([...r.body], [270369 & 0xff]);
    }
  });

  test('full body: exact size, deterministic content, headers', async () => {
    const size = 3 * MiB + 5;
    const r = await request(port, `/files/big.bin?size=${size}&seed=42`);
    assert.equal(r.status, 200);
    assert.equal(r.body.length, size);
    assert.ok(r.body.equals(refBytes(42, 0, size)), 'content matches the reference generator');
    assert.equal(r.headers['content-type'], 'application/octet-stream');
    assert.equal(r.headers['content-length'], String(size));
    assert.equal(r.headers.etag, `"${size}-42-1"`);
    assert.equal(r.headers['last-modified'], 'Mon, 01 Jan 2024 00:00:00 GMT');
    assert.equal(r.headers['accept-ranges'], 'bytes');
    assert.equal(r.headers['cache-control'], 'no-store');
  });

  test('seed defaults to a stable hash of the name; etag param changes the ETag', async () => {
    const a = await request(port, '/files/hello.bin?size=1000');
    const b = await request(port, '/files/hello.bin?size=1000');
    const c = await request(port, '/files/other.bin?size=1000');
    assert.equal(a.headers.etag, `"1000-${fnv1a('hello.bin')}-1"`);
    assert.ok(a.body.equals(b.body));
    assert.ok(!a.body.equals(c.body));
    assert.ok(a.body.equals(refBytes(fnv1a('hello.bin'), 0, 1000)));
    const d = await request(port, '/files/hello.bin?size=1000&etag=v2');
    assert.equal(d.headers.etag, `"1000-${fnv1a('hello.bin')}-v2"`);
    assert.ok(a.body.equals(d.body));
  });

  test('HEAD and size 0', async () => {
    const r = await request(port, '/files/x?size=5000&seed=3', { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], '5000');
    assert.equal(r.body.length, 0);
    const z = await request(port, '/files/x?size=0');
    assert.equal(z.status, 200);
    assert.equal(z.body.length, 0);
    assert.equal((await request(port, '/files/x?size=abc')).status, 400);
  });

  test('Range requests', async () => {
    const N = 3 * MiB;
    const cases = [
      ['bytes=10-19', 10, 19],
      ['bytes=1048570-1048590', 1048570, 1048590], // crosses a block boundary
      [`bytes=${N - 100}-`, N - 100, N - 1],
      ['bytes=-5', N - 5, N - 1],
      [`bytes=0-${N + 1000}`, 0, N - 1],
      [`bytes=-${N + 10}`, 0, N - 1],
    ];
    for (const [range, a, b] of cases) {
      const r = await request(port, `/files/r.bin?size=${N}&seed=7`, { headers: { Range: range } });
      assert.equal(r.status, 206, range);
      assert.equal(r.headers['content-range'], `bytes ${a}-${b}/${N}`, range);
      assert.equal(r.headers['content-length'], String(b - a + 1), range);
      assert.ok(r.body.equals(refBytes(7, a, b - a + 1)), range);
    }
    for (const range of [`bytes=${N}-`, `bytes=${N + 5}-${N + 10}`, 'bytes=-0']) {
      const r = await request(port, `/files/r.bin?size=${N}&seed=7`, { headers: { Range: range } });
      assert.equal(r.status, 416, range);
      assert.equal(r.headers['content-range'], `bytes */${N}`, range);
    }
    // malformed / multi-range headers are ignored
    for (const range of ['bytes=5-2', 'items=0-1', 'bytes=0-1,5-6']) {
      const r = await request(port, `/files/r.bin?size=100&seed=7`, { headers: { Range: range } });
      assert.equal(r.status, 200, range);
      assert.equal(r.body.length, 100, range);
    }
    // HEAD with Range
    const h = await request(port, `/files/r.bin?size=${N}`, { method: 'HEAD', headers: { Range: 'bytes=1-2' } });
    assert.equal(h.status, 206);
    assert.equal(h.headers['content-length'], '2');
  });

  test('Range beyond 4 GiB (streamed, never allocated)', async () => {
    const N = 2 ** 32 + 5 * MiB;
    const head = await request(port, `/files/huge.bin?size=${N}&seed=9`, { method: 'HEAD' });
    assert.equal(head.headers['content-length'], String(N));
    const a = 2 ** 32 + 3 * MiB - 10; // crosses the block 4098 -> 4099 boundary (xor 2 -> 3)
    const r = await request(port, `/files/huge.bin?size=${N}&seed=9`, { headers: { Range: `bytes=${a}-${a + 19}` } });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes ${a}-${a + 19}/${N}`);
    assert.ok(r.body.equals(refBytes(9, a, 20)));
  });

  test('If-Range: matching ETag/date honours Range, otherwise full 200', async () => {
    const u = '/files/ir.bin?size=1000&seed=5';
    const etag = '"1000-5-1"';
    const get = (ifRange, extra = '') =>
      request(port, u + extra, { headers: { Range: 'bytes=100-199', 'If-Range': ifRange } });
    let r = await get(etag);
    assert.equal(r.status, 206);
    assert.equal(r.body.length, 100);
    r = await get(etag, '&etag=2'); // resource "changed"
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 1000);
    assert.equal(r.headers['content-range'], undefined);
    r = await get('W/' + etag);
    assert.equal(r.status, 200);
    r = await get('Mon, 01 Jan 2024 00:00:00 GMT');
    assert.equal(r.status, 206);
    r = await get('Tue, 02 Jan 2024 00:00:00 GMT');
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(refBytes(5, 0, 1000)));
  });

  test('status=NNN answers that status with the generated body', async () => {
    const r = await request(port, '/files/e.bin?size=500&seed=4&status=404', { headers: { Range: 'bytes=0-9' } });
    assert.equal(r.status, 404);
    assert.equal(r.headers['content-length'], '500');
    assert.ok(r.body.equals(refBytes(4, 0, 500)));
    const s = await request(port, '/files/e.bin?size=10&status=503&retryAfter=2');
    assert.equal(s.status, 503);
    assert.equal(s.headers['retry-after'], '2');
  });

  test('rate throttles smoothly', async () => {
    const size = 10000;
    const rate = 20000; // => ~0.5 s
    const t0 = Date.now();
    const { res } = await openResponse(port, `/files/slow.bin?size=${size}&seed=1&rate=${rate}`);
    const arrivals = [];
    const chunks = [];
    res.on('data', (c) => {
      arrivals.push(Date.now() - t0);
      chunks.push(c);
    });
    await new Promise((r) => res.on('end', r));
    const elapsed = Date.now() - t0;
    const body = Buffer.concat(chunks);
    assert.equal(body.length, size);
    assert.ok(body.equals(refBytes(1, 0, size)));
    assert.ok(elapsed >= 400 && elapsed < 2000, `elapsed ${elapsed} ms`);
    assert.ok(arrivals.length >= 5, `only ${arrivals.length} chunks`);
    assert.ok(arrivals[0] < 250, `first data after ${arrivals[0]} ms`);
  });

  test('backpressure: a paused reader does not make the server buffer the body', async () => {
    srv.resetLog();
    const size = 512 * MiB;
    const { req, res } = await openResponse(port, `/files/bp.bin?size=${size}&seed=2`);
    res.pause();
    await sleep(300);
    const entry = srv.log.find((e) => e.path === '/files/bp.bin');
    assert.ok(entry.bytesSent < 64 * MiB, `server wrote ${entry.bytesSent} bytes to a paused client`);
    req.destroy();
    await waitFor(() => entry.end, 3000, 'log entry end');
    assert.equal(entry.aborted, true);
    assert.equal(entry.completed, false);
  });

  test('unthrottled download of a large file can be aborted midway', async () => {
    srv.resetLog();
    const size = 2 ** 32 + 1;
    const { req, res } = await openResponse(port, `/files/abort.bin?size=${size}&seed=8`);
    let got = 0;
    await new Promise((resolve) =>
      res.on('data', (c) => {
        got += c.length;
        if (got > 4 * MiB) resolve();
      }),
    );
    req.destroy();
    const entry = srv.log.find((e) => e.path === '/files/abort.bin');
    await waitFor(() => entry.end, 3000, 'log entry end');
    assert.equal(entry.aborted, true);
    assert.equal(entry.completed, false);
    assert.ok(entry.bytesSent >= got && entry.bytesSent < size);
  });
});

describe('fault switches', () => {
  /** Log entries of a fault key, once all of them are finalized. */
  const entriesFor = (key, n) =>
    waitFor(
      () => {
        const es = srv.log.filter((e) => e.faultKey === key);
        return es.length === n && es.every((e) => e.end !== null) && es;
      },
      3000,
      `${n} finished log entries for ${key}`,
    );
  /** Asserts a download that was cut: announced length, exactly `len` bytes of seed from `from`. */
  const assertDropped = (r, status, seed, from, len) => {
    assert.equal(r.status, status);
    assert.equal(r.complete, false, 'response incomplete');
    assert.ok(r.error, 'client saw an error/abort');
    assert.equal(r.body.length, len, 'bytes before the fault offset');
    assert.ok(r.body.equals(refBytes(seed, from, len)));
  };

  test('cut: drops the connection at each offset, once per offset per fault key', async () => {
    srv.resetLog();
    const size = 300000;
    const u = `/files/cut.bin?size=${size}&seed=21&cut=200000,100001`;
    let r = await download(port, u);
    assertDropped(r, 200, 21, 0, 100001);
    assert.equal(r.headers['content-length'], String(size));
    r = await download(port, u, { Range: 'bytes=100001-' });
    assertDropped(r, 206, 21, 100001, 99999);
    r = await download(port, u, { Range: 'bytes=200000-', 'If-Range': `"${size}-21-1"` });
    assert.equal(r.status, 206);
    assert.equal(r.complete, true);
    assert.ok(r.body.equals(refBytes(21, 200000, 100000)));
    r = await download(port, u); // every offset used up
    assert.equal(r.complete, true);
    assert.ok(r.body.equals(refBytes(21, 0, size)));

    const es = await entriesFor(u, 4);
    assert.equal(es[0].faultKey, u);
    assert.deepEqual(es.map((e) => e.cutAt), [100001, 200000, null, null]);
    assert.deepEqual(es.map((e) => e.aborted), [true, true, false, false]);
    assert.deepEqual(es.map((e) => e.completed), [false, false, true, true]);
    assert.deepEqual(es.map((e) => e.bytesSent), [100001, 99999, 100000, size]);
    assert.deepEqual(es.map((e) => e.range), [null, 'bytes=100001-', 'bytes=200000-', null]);
    assert.deepEqual(es.map((e) => e.ifRange), [null, null, `"${size}-21-1"`, null]);
    const logged = (await getLog(port)).entries.find((e) => e.cutAt === 100001);
    assert.equal(logged.faultKey, u);

    // POST /__log/reset re-arms the offsets; another query is another fault key.
    await request(port, '/__log/reset', { method: 'POST' });
    assertDropped(await download(port, u), 200, 21, 0, 100001);
    assertDropped(await download(port, u + '&x=1'), 200, 21, 0, 100001);
  });

  test('cut: only responses covering the offset; a cut at the range start sends no body', async () => {
    const u = '/files/cut2.bin?size=1000&seed=3&cut=500';
    let r = await download(port, u, { Range: 'bytes=0-499' }); // ends just before 500
    assert.equal(r.complete, true);
    assert.equal(r.body.length, 500);
    r = await download(port, u, { Range: 'bytes=600-' });
    assert.equal(r.complete, true);
    r = await download(port, u, { Range: 'bytes=500-' });
    assertDropped(r, 206, 3, 500, 0);
    assert.equal(r.headers['content-range'], 'bytes 500-999/1000');
    r = await download(port, u);
    assert.equal(r.complete, true);
    assert.equal(r.body.length, 1000);

    r = await download(port, '/files/cut3.bin?size=100&cut=100,5000'); // beyond the body
    assert.equal(r.complete, true);
    assertDropped(await download(port, '/files/cut3.bin?size=100&seed=1&cut=0'), 200, 1, 0, 0);
    for (const bad of ['abc', '1,,2', '-1', '1,']) {
      assert.equal((await request(port, `/files/cut4.bin?size=10&cut=${bad}`)).status, 400, bad);
    }
  });

  test('fail503: the first K requests of the fault key get 503 (+ Retry-After)', async () => {
    srv.resetLog();
    const u = '/files/busy.bin?size=1000&seed=4&fail503=2&retryAfter=3';
    for (let i = 1; i <= 2; i++) {
      const r = await request(port, u, { headers: { Range: 'bytes=0-9' } });
      assert.equal(r.status, 503, `request ${i}`);
      assert.equal(r.headers['retry-after'], '3');
      assert.match(r.headers['content-type'], /^text\/plain/);
      assert.match(r.body.toString(), /503/);
      assert.equal(r.headers.etag, undefined);
      assert.equal(r.headers['access-control-allow-origin'], '*');
    }
    let r = await request(port, u);
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(refBytes(4, 0, 1000)));
    const es = await entriesFor(u, 3);
    assert.deepEqual(es.map((e) => e.status), [503, 503, 200]);
    assert.ok(es.every((e) => e.completed));

    const v = '/files/busy.bin?size=1000&seed=4&fail503=1'; // another key; no Retry-After
    r = await request(port, v);
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], undefined);
    assert.equal((await request(port, v)).status, 200);

    await request(port, '/__log/reset', { method: 'POST' });
    assert.equal((await request(port, u)).status, 503);
    assert.equal((await request(port, '/files/busy.bin?size=10&fail503=x')).status, 400);
  });

  test('ignoreRange: always 200 with the whole body, validators still sent', async () => {
    const u = '/files/nr.bin?size=5000&seed=6&ignoreRange=1';
    for (const range of ['bytes=100-199', 'bytes=9999-', 'bytes=-5']) {
      const r = await request(port, u, { headers: { Range: range, 'If-Range': '"5000-6-1"' } });
      assert.equal(r.status, 200, range);
      assert.equal(r.headers['content-range'], undefined, range);
      assert.equal(r.headers['content-length'], '5000', range);
      assert.ok(r.body.equals(refBytes(6, 0, 5000)), range);
      assert.equal(r.headers.etag, '"5000-6-1"');
      assert.equal(r.headers['last-modified'], LAST_MODIFIED);
    }
  });

  test('flipAfter: the representation changes after K requests (seed + 1, ETag V + 1)', async () => {
    srv.resetLog();
    const size = 70000;
    const u = `/files/flip.bin?size=${size}&seed=30&flipAfter=1`;
    const r1 = await request(port, u);
    assert.equal(r1.headers.etag, `"${size}-30-1"`);
    assert.equal(r1.headers['last-modified'], LAST_MODIFIED);
    assert.ok(r1.body.equals(refBytes(30, 0, size)));

    // If-Range with the old ETag or date no longer matches: full 200 of the new bytes
    for (const ifRange of [r1.headers.etag, LAST_MODIFIED]) {
      const r = await request(port, u, { headers: { Range: 'bytes=1000-', 'If-Range': ifRange } });
      assert.equal(r.status, 200, ifRange);
      assert.equal(r.headers.etag, `"${size}-31-2"`);
      assert.equal(r.headers['last-modified'], LAST_MODIFIED_FLIPPED);
      assert.ok(r.body.equals(refBytes(31, 0, size)), ifRange);
    }
    // Range without If-Range (or with the new ETag): 206 of the new bytes
    for (const h of [{}, { 'If-Range': `"${size}-31-2"` }]) {
      const r = await request(port, u, { headers: { Range: 'bytes=1000-', ...h } });
      assert.equal(r.status, 206);
      assert.ok(r.body.equals(refBytes(31, 1000, size - 1000)));
    }
    const es = await entriesFor(u, 5);
    assert.deepEqual(es.map((e) => e.flipped), [false, true, true, true, true]);

    let h = JSON.parse((await request(port, `/sha256?size=${size}&seed=31`)).body);
    assert.equal(h.sha256, sha256(refBytes(31, 0, size)));
    h = JSON.parse((await request(port, `/sha256?size=${size}&seed=30&flip=1`)).body);
    assert.equal(h.sha256, sha256(refBytes(31, 0, size)));

    // default (name) seed, flipAfter=0, non-numeric etag version
    const seed = (fnv1a('flipname.bin') + 1) >>> 0;
    const r = await request(port, '/files/flipname.bin?size=3000&flipAfter=0&etag=v');
    assert.equal(r.headers.etag, `"3000-${seed}-v+1"`);
    assert.ok(r.body.equals(refBytes(seed, 0, 3000)));
    h = JSON.parse((await request(port, '/sha256?size=3000&name=flipname.bin&flip=1')).body);
    assert.equal(h.sha256, sha256(r.body));
    assert.equal((await request(port, '/files/flip.bin?size=10&flipAfter=')).status, 400);
  });

  test('short: the first K responses lie about their length', async () => {
    srv.resetLog();
    const size = 200000;
    const u = `/files/short.bin?size=${size}&seed=12&short=2&shortBy=100`;
    let r = await download(port, u);
    assertDropped(r, 200, 12, 0, size - 100);
    assert.equal(r.headers['content-length'], String(size));
    r = await download(port, u, { Range: 'bytes=1000-' });
    assertDropped(r, 206, 12, 1000, size - 1000 - 100);
    assert.equal(r.headers['content-length'], String(size - 1000));
    r = await download(port, u, { Range: 'bytes=1000-' });
    assert.equal(r.complete, true);
    assert.ok(r.body.equals(refBytes(12, 1000, size - 1000)));
    const es = await entriesFor(u, 3);
    assert.deepEqual(es.map((e) => e.shortAt), [size - 100, size - 100, null]);
    assert.deepEqual(es.map((e) => e.aborted), [true, true, false]);

    // default shortBy = 1024; a body shorter than shortBy sends nothing
    assertDropped(await download(port, '/files/short2.bin?size=5000&seed=1&short=1'), 200, 1, 0, 5000 - 1024);
    assert.equal((await download(port, '/files/short2.bin?size=5000&seed=1&short=1')).complete, true);
    assertDropped(await download(port, '/files/short3.bin?size=10&seed=1&short=1'), 200, 1, 0, 0);
    assert.equal((await request(port, '/files/short4.bin?size=10&short=1&shortBy=0')).status, 400);
  });

  test('cut and short combined: the earlier fault fires and only it is used up', async () => {
    const u = '/files/combo.bin?size=10000&seed=5&cut=3000&short=1&shortBy=1000';
    assertDropped(await download(port, u), 200, 5, 0, 3000);
    assertDropped(await download(port, u), 200, 5, 0, 9000);
    assert.equal((await download(port, u)).complete, true);
  });

  test('stallAt: pauses once per fault key at the offset', async () => {
    srv.resetLog();
    const size = 200000;
    const u = `/files/stall.bin?size=${size}&seed=13&stallAt=70000&stallMs=400`;
    // responses not covering the offset do not stall
    let r = await download(port, u, { Range: 'bytes=0-69999' });
    assert.equal(r.complete, true);
    assert.ok(r.elapsed < 350, `elapsed ${r.elapsed} ms`);
    r = await download(port, u);
    assert.equal(r.complete, true);
    assert.ok(r.body.equals(refBytes(13, 0, size)));
    let gap = 0;
    let before = 0;
    for (let i = 1; i < r.arrivals.length; i++) {
      const dt = r.arrivals[i][0] - r.arrivals[i - 1][0];
      if (dt > gap) [gap, before] = [dt, r.arrivals[i - 1][1]];
    }
    assert.ok(gap >= 330, `longest gap ${gap} ms`);
    assert.equal(before, 70000, 'bytes received before the pause');
    r = await download(port, u); // once per fault key
    assert.equal(r.complete, true);
    assert.ok(r.elapsed < 350, `elapsed ${r.elapsed} ms`);
    const es = await entriesFor(u, 3);
    assert.deepEqual(es.map((e) => e.stalledAt), [null, 70000, null]);
  });

  test('a stalled response does not delay close()', async () => {
    const s = await startServer({ root: path.join(tmp, 'www') });
    const { res } = await openResponse(s.port, '/files/st.bin?size=1000&stallAt=10&stallMs=20000');
    res.on('error', () => {});
    res.resume();
    await waitFor(() => s.log[0]?.stalledAt === 10, 3000, 'stall');
    const t0 = Date.now();
    await s.close();
    assert.ok(Date.now() - t0 < 1000, `close took ${Date.now() - t0} ms`);
    await waitFor(() => s.log[0].end, 3000, 'entry end');
    assert.equal(s.log[0].aborted, true);
    assert.equal(s.log[0].bytesSent, 10);
  });

  test('noValidators: neither ETag nor Last-Modified; If-Range never matches', async () => {
    const u = '/files/nv.bin?size=1000&seed=14&noValidators=1';
    let r = await request(port, u);
    assert.equal(r.status, 200);
    assert.equal(r.headers.etag, undefined);
    assert.equal(r.headers['last-modified'], undefined);
    assert.ok(r.body.equals(refBytes(14, 0, 1000)));
    r = await request(port, u, { headers: { Range: 'bytes=10-19' } });
    assert.equal(r.status, 206);
    assert.ok(r.body.equals(refBytes(14, 10, 10)));
    for (const ifRange of ['"1000-14-1"', LAST_MODIFIED]) {
      r = await request(port, u, { headers: { Range: 'bytes=10-19', 'If-Range': ifRange } });
      assert.equal(r.status, 200, ifRange);
      assert.equal(r.body.length, 1000);
    }
  });

  test('the fault key is the path + the raw query string', async () => {
    srv.resetLog();
    const a = '/files/key.bin?size=10&fail503=1';
    const b = '/files/key.bin?fail503=1&size=10';
    const c = '/nocors/key.bin?size=10&fail503=1';
    for (const u of [a, b, c]) assert.equal((await request(port, u)).status, 503, u);
    for (const u of [a, b, c]) assert.equal((await request(port, u)).status, 200, u);
    assert.deepEqual(
      srv.log.map((e) => e.faultKey),
      [a, b, c, a, b, c],
    );
  });
});

describe('/redirect/<n>', () => {
  const target = '/files/rd.bin?size=100&seed=2';
  const to = encodeURIComponent(target);

  test('n hops of 302 ending at `to`', async () => {
    let r = await request(port, `/redirect/1?to=${to}`);
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, target);
    assert.equal(r.headers['access-control-allow-origin'], '*');
    r = await request(port, `/redirect/3?to=${to}&status=307`);
    assert.equal(r.status, 307);
    const next = new URL(r.headers.location, 'http://x');
    assert.equal(next.pathname, '/redirect/2');
    assert.equal(next.searchParams.get('to'), target);
    assert.equal(next.searchParams.get('status'), '307');

    srv.resetLog();
    const f = await fetch(`${srv.url}/redirect/3?to=${to}`);
    assert.equal(f.status, 200);
    assert.equal(f.redirected, true);
    assert.equal(f.url, srv.url + target);
    assert.ok(Buffer.from(await f.arrayBuffer()).equals(refBytes(2, 0, 100)));
    assert.deepEqual(
      srv.log.map((e) => [e.path, e.status]),
      [['/redirect/3', 302], ['/redirect/2', 302], ['/redirect/1', 302], ['/files/rd.bin', 200]],
    );
  });

  test('bad requests', async () => {
    for (const u of ['/redirect/0?to=/x', '/redirect/1', '/redirect/x?to=/x', '/redirect/1?to=/x&status=200']) {
      assert.equal((await request(port, u)).status, 400, u);
    }
  });
});

describe('/nocors/<name>', () => {
  test('like /files/ but without any CORS header', async () => {
    const u = '/nocors/nc.bin?size=1000&seed=15';
    let r = await request(port, u);
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(refBytes(15, 0, 1000)));
    assert.equal(r.headers.etag, '"1000-15-1"');
    assert.ok(!Object.keys(r.headers).some((h) => h.startsWith('access-control-')), 'no CORS headers');
    r = await request(port, u, { headers: { Range: 'bytes=5-9' } });
    assert.equal(r.status, 206);
    assert.ok(r.body.equals(refBytes(15, 5, 5)));
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    r = await request(port, u, {
      method: 'OPTIONS',
      headers: { Origin: 'http://example.test', 'Access-Control-Request-Method': 'GET' },
    });
    assert.equal(r.status, 204);
    assert.ok(!Object.keys(r.headers).some((h) => h.startsWith('access-control-')), 'no CORS on preflight');
    r = await download(port, '/nocors/nc.bin?size=1000&seed=15&cut=10');
    assert.equal(r.headers['access-control-allow-origin'], undefined);
    assert.equal(r.complete, false);
    assert.ok(r.body.equals(refBytes(15, 0, 10)));
    r = await request(port, '/files/nc.bin?size=1000&seed=15');
    assert.equal(r.headers['access-control-allow-origin'], '*');
  });
});

describe('/sha256', () => {
  test('matches the downloaded body (seed= and name=)', async () => {
    const size = 2 * MiB + 123;
    const body = (await request(port, `/files/h.bin?size=${size}&seed=11`)).body;
    let r = await request(port, `/sha256?size=${size}&seed=11`);
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^application\/json/);
    assert.deepEqual(JSON.parse(r.body), { sha256: sha256(body), size });
    // cached second call gives the same answer
    r = await request(port, `/sha256?size=${size}&seed=11`);
    assert.equal(JSON.parse(r.body).sha256, sha256(body));

    const named = (await request(port, '/files/named.bin?size=5000')).body;
    r = await request(port, '/sha256?size=5000&name=named.bin');
    assert.deepEqual(JSON.parse(r.body), { sha256: sha256(named), size: 5000 });
  });
});

describe('/status/<code>', () => {
  test('answers the code with a small body', async () => {
    for (const code of [200, 404, 500, 503]) {
      const r = await request(port, `/status/${code}`);
      assert.equal(r.status, code);
      assert.equal(r.body.toString(), `status ${code}`);
      assert.equal(r.headers['content-length'], String(r.body.length));
    }
    const ra = await request(port, '/status/429?retryAfter=7');
    assert.equal(ra.headers['retry-after'], '7');
    const nc = await request(port, '/status/204');
    assert.equal(nc.status, 204);
    assert.equal(nc.body.length, 0);
    assert.equal((await request(port, '/status/abc')).status, 400);
  });
});

describe('CORS', () => {
  test('every response carries CORS headers', async () => {
    for (const p of ['/index.html', '/missing', '/files/c?size=3', '/status/500', '/sha256?size=1&seed=1', '/__log']) {
      const r = await request(port, p);
      assert.equal(r.headers['access-control-allow-origin'], '*', p);
      assert.equal(
        r.headers['access-control-expose-headers'],
        'Content-Length, Content-Range, ETag, Last-Modified, Accept-Ranges, Retry-After',
        p,
      );
    }
  });

  test('OPTIONS preflight', async () => {
    const r = await request(port, '/files/x.bin', {
      method: 'OPTIONS',
      headers: { Origin: 'http://example.test', 'Access-Control-Request-Method': 'GET' },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers['access-control-allow-origin'], '*');
    assert.equal(r.headers['access-control-allow-headers'], '*');
    assert.equal(r.headers['access-control-allow-methods'], 'GET, HEAD, POST, PUT, OPTIONS');
  });
});

describe('request log', () => {
  test('entries for /files/ and /status/, /__log and /__log/reset', async () => {
    const { log } = srv;
    let r = await request(port, '/__log/reset', { method: 'POST' });
    assert.equal(r.status, 200);
    assert.equal(srv.log, log, 'log array keeps its identity');
    assert.equal(log.length, 0);

    await request(port, '/files/l.bin?size=100&seed=1', { headers: { Range: 'bytes=0-9', 'If-Range': '"x"' } });
    await request(port, '/status/418');
    await request(port, '/index.html'); // static: not logged
    const body = await getLog(port);
    assert.equal(body.entries.length, 2);
    const [f, s] = body.entries;
    assert.equal(f.method, 'GET');
    assert.equal(f.path, '/files/l.bin');
    assert.deepEqual(f.query, { size: '100', seed: '1' });
    assert.deepEqual(f.headers, { range: 'bytes=0-9', ifRange: '"x"' });
    assert.equal(f.status, 200); // If-Range mismatch -> full
    assert.equal(f.bytesSent, 100);
    assert.equal(f.completed, true);
    assert.equal(f.aborted, false);
    assert.ok(f.start <= f.end);
    assert.ok(f.id < s.id);
    assert.equal(s.path, '/status/418');
    assert.equal(s.status, 418);
    assert.equal(s.completed, true);
    assert.equal(f.range, 'bytes=0-9');
    assert.equal(f.ifRange, '"x"');
    assert.equal(f.faultKey, '/files/l.bin?size=100&seed=1');
    assert.equal(f.flipped, false);
    assert.equal(f.cutAt, null);
    assert.equal(s.faultKey, null);
    assert.equal(s.range, null);
    assert.deepEqual(Object.keys(f).sort(), [
      'aborted', 'bytesSent', 'completed', 'cutAt', 'end', 'faultKey', 'flipped', 'headers', 'id', 'ifRange',
      'method', 'path', 'query', 'range', 'requestHeaders', 'shortAt', 'stalledAt', 'start', 'status',
    ]);
    assert.equal(f.requestHeaders['if-range'], '"x"', 'every request header, names lower-cased');
    assert.equal(f.requestHeaders.host, `127.0.0.1:${port}`);

    srv.resetLog();
    assert.equal((await getLog(port)).entries.length, 0);
  });

  test('maxConcurrent and active count open /files/ responses', async () => {
    await request(port, '/__log/reset', { method: 'POST' });
    const open = await Promise.all(
      [1, 2, 3].map((i) => openResponse(port, `/files/c${i}.bin?size=100000&rate=1000`)),
    );
    let body = await getLog(port);
    assert.equal(body.active, 3);
    assert.equal(body.maxConcurrent, 3);
    assert.ok(body.entries.every((e) => e.end === null && e.status === 200));
    for (const { req } of open) req.destroy();
    body = await waitFor(async () => {
      const b = await getLog(port);
      return b.active === 0 && b.entries.every((e) => e.end !== null) && b.entries.length === 3 && b;
    }, 3000, 'aborted entries');
    assert.equal(body.maxConcurrent, 3);
    assert.ok(body.entries.every((e) => e.aborted && !e.completed && e.bytesSent < 100000));
    await request(port, '/__log/reset', { method: 'POST' });
    assert.equal((await getLog(port)).maxConcurrent, 0);
  });
});

describe('connections', () => {
  test('HTTP/1.1 keep-alive reuses the socket', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const a = await request(port, '/files/k?size=10', { agent });
      const b = await request(port, '/status/200', { agent });
      const c = await request(port, '/index.html', { agent });
      assert.equal(a.reusedSocket, false);
      assert.equal(b.reusedSocket, true);
      assert.equal(c.reusedSocket, true);
    } finally {
      agent.destroy();
    }
  });

  test('close() destroys idle keep-alive and active sockets promptly', async () => {
    const s = await startServer({ root: path.join(tmp, 'www') });
    const agent = new http.Agent({ keepAlive: true });
    await request(s.port, '/status/200', { agent }); // leaves an idle keep-alive socket
    const { res } = await openResponse(s.port, '/files/slow?size=1000000&rate=1000');
    res.resume();
    res.on('error', () => {});
    const t0 = Date.now();
    await s.close();
    assert.ok(Date.now() - t0 < 1000, `close took ${Date.now() - t0} ms`);
    agent.destroy();
  });
});

describe('/upload/<name>', () => {
  test('PUT and POST answer size and sha256, and are logged', async () => {
    srv.resetLog();
    const data = crypto.randomBytes(MiB + 17);
    for (const method of ['PUT', 'POST']) {
      const r = await request(port, '/upload/u.bin', { method, body: data });
      assert.equal(r.status, 200, method);
      assert.deepEqual(JSON.parse(r.body), { size: data.length, sha256: sha256(data), method, contentType: null });
    }
    const e = srv.log.filter((x) => x.path === '/upload/u.bin');
    assert.equal(e.length, 2);
    assert.deepEqual(e.map((x) => x.method), ['PUT', 'POST']);
    assert.ok(e.every((x) => x.status === 200 && x.completed && x.bytesReceived === data.length));
    const empty = await request(port, '/upload/empty', { method: 'POST' });
    assert.deepEqual(JSON.parse(empty.body), { size: 0, sha256: sha256(Buffer.alloc(0)), method: 'POST', contentType: null });
  });

  test('drop=K cuts the first K requests after their body; delayMs and status shape the answer', async () => {
    srv.resetLog();
    const data = crypto.randomBytes(1000);
    const path = '/upload/d.bin?drop=1&delayMs=300&status=201';
    await assert.rejects(request(port, path, { method: 'PUT', body: data }), /socket hang up|ECONNRESET/);
    const t0 = Date.now();
    const r = await request(port, path, { method: 'PUT', body: data, headers: { 'content-type': 'text/plain' } });
    assert.ok(Date.now() - t0 >= 290, 'answered after delayMs');
    assert.equal(r.status, 201);
    assert.deepEqual(JSON.parse(r.body), { size: 1000, sha256: sha256(data), method: 'PUT', contentType: 'text/plain' });
    const e = srv.log.filter((x) => x.path === '/upload/d.bin');
    assert.deepEqual(e.map((x) => x.cutAt), [1000, null]);
    const bad = await request(port, '/upload/x?status=99', { method: 'PUT', body: data });
    assert.equal(bad.status, 400);
  });
});

describe('CLI', () => {
  test('node server.mjs --port 0 prints its URL and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [SERVER_FILE, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let out = '';
      const url = await new Promise((resolve, reject) => {
        child.stdout.on('data', (d) => {
          out += d;
          const m = /^bgsession test server on (http:\/\/127\.0\.0\.1:(\d+))$/m.exec(out);
          if (m) resolve(m);
        });
        child.on('exit', () => reject(new Error(`exited early: ${out}`)));
      });
      const r = await request(Number(url[2]), '/status/202');
      assert.equal(r.status, 202);
      const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
      child.kill('SIGTERM');
      assert.deepEqual(await exited, { code: 0, signal: null });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

describe('hostile answers', () => {
  /** A raw HTTP/1.1 exchange over one socket (no parser: Node's refuses a lying Content-Length). */
  function raw(urlPath, headers = {}) {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => {
        const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
        s.write(`GET ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Connection: close\r\n\r\n`);
      });
      const chunks = [];
      s.on('data', (c) => chunks.push(c));
      s.on('end', () => {
        const all = Buffer.concat(chunks);
        const cut = all.indexOf('\r\n\r\n');
        resolve({ head: all.subarray(0, cut).toString('latin1'), body: all.subarray(cut + 4) });
      });
      s.on('error', reject);
    });
  }

  test('contentLength=V sends V as given, then the real body until the socket closes', async () => {
    for (const v of ['-5', '99999999999999999999']) {
      const r = await raw(`/files/cl.bin?size=100&contentLength=${v}`);
      assert.match(r.head, new RegExp(`^content-length: ${v}$`, 'im'));
      assert.match(r.head, /^connection: close$/im);
      assert.deepEqual(r.body, refBytes(fnv1a('cl.bin'), 0, 100));
    }
    assert.equal((await request(port, '/files/cl.bin?contentLength=a%20b')).status, 400);
  });

  test('partial=1: 206 to a request without Range, 200 whole to one with Range', async () => {
    const seed = fnv1a('p.bin');
    const plain = await request(port, '/files/p.bin?size=300&partial=1');
    assert.equal(plain.status, 206);
    assert.equal(plain.headers['content-range'], 'bytes 0-299/300');
    assert.deepEqual(plain.body, refBytes(seed, 0, 300));
    const ranged = await request(port, '/files/p.bin?size=300&partial=1', { headers: { range: 'bytes=10-19' } });
    assert.equal(ranged.status, 200);
    assert.equal(ranged.headers['content-range'], undefined);
    assert.equal(ranged.body.length, 300);
  });

  test('badRange=shift answers one byte after the asked offset; badRange=impossible a last byte >= total', async () => {
    const seed = fnv1a('b.bin');
    const shift = await request(port, '/files/b.bin?size=300&badRange=shift', { headers: { range: 'bytes=10-19' } });
    assert.equal(shift.status, 206);
    assert.equal(shift.headers['content-range'], 'bytes 11-19/300');
    assert.deepEqual(shift.body, refBytes(seed, 11, 9));
    const imp = await request(port, '/files/b.bin?size=300&badRange=impossible', { headers: { range: 'bytes=10-19' } });
    assert.equal(imp.headers['content-range'], 'bytes 10-300/300');
    assert.equal(imp.body.length, 10);
    const whole = await request(port, '/files/b.bin?size=300&badRange=shift');
    assert.equal(whole.status, 200, 'no Range: a normal answer');
    assert.equal((await request(port, '/files/b.bin?badRange=nope')).status, 400);
  });

  test('extra=K sends K bytes more than announced, chunked', async () => {
    const r = await request(port, '/files/e.bin?size=300&extra=7', { headers: { range: 'bytes=0-99' } });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], 'bytes 0-99/300');
    assert.equal(r.headers['content-length'], undefined);
    assert.equal(r.headers['transfer-encoding'], 'chunked');
    assert.equal(r.body.length, 107);
    assert.deepEqual(r.body.subarray(100), Buffer.alloc(7, 0x78));
  });

  test('/redirect/loop redirects to itself, forever, each hop logged', async () => {
    srv.resetLog();
    for (let i = 0; i < 3; i++) {
      const r = await request(port, '/redirect/loop?k=1');
      assert.equal(r.status, 302);
      assert.equal(r.headers.location, '/redirect/loop?k=1');
    }
    assert.equal(srv.log.filter((e) => e.path === '/redirect/loop').length, 3);
  });
});
