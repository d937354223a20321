// bgsession test/demo server — dependency-free (node: built-ins only), loopback only.
//
// Endpoints (every response carries CORS headers except under /nocors/; OPTIONS on any path -> 204
// preflight, without CORS headers under /nocors/):
//   GET|HEAD /...                 static files from `root` (default <repo>/www), `/` -> index.html,
//                                 directories without a trailing slash -> 301. Cache-Control: no-cache + ETag (If-None-Match -> 304);
//                                 .js/.mjs also get Service-Worker-Allowed: /. Traversal -> 403, missing -> 404.
//   GET|HEAD /fixtures/...        static files from <repo>/tests/fixtures (any `extraRoots` prefix works the same)
//   GET|HEAD /files/<name>?size=N&seed=S&rate=B&etag=V&status=NNN&retryAfter=SEC  [+ fault switches below]
//                                 N deterministic pseudo-random bytes (default N = 1 MiB, seed = hash(<name>)),
//                                 streamed in 64 KiB chunks, optionally throttled to B bytes/s.
//                                 Range / If-Range supported (206 / 416); ETag "<N>-<seed>-<V>" (V default 1),
//                                 Last-Modified LAST_MODIFIED. `status` forces that status with the full
//                                 generated body (Range ignored). `retryAfter` adds Retry-After to any answer.
//   GET|HEAD /nocors/<name>?...   exactly like /files/ (same params and fault switches, its own fault keys)
//                                 but WITHOUT any Access-Control-* header, preflight included.
//   GET      /sha256?size=N&seed=S | ?size=N&name=<name>   [&flip=1 -> seed + 1]
//                                 -> {"sha256": "<hex>", "size": N}
//   ANY      /status/<code>[?retryAfter=SEC]               -> that status, body "status <code>"
//   ANY      /redirect/loop[?...] -> 302 to itself (same query), forever. Logged.
//   ANY      /redirect/<n>?to=<path-and-query>[&status=301|302|303|307|308]
//                                 n >= 1 hops: n > 1 -> <status> (default 302) to /redirect/<n-1>?<same query>,
//                                 n = 1 -> <status> to `to` (URL-encode it; any printable-ASCII URL). Logged.
//   PUT|POST /upload/<name>[?delayMs=T&drop=K&status=NNN]
//                                 reads the whole body -> {"size", "sha256", "method", "contentType"}, after T ms;
//                                 the first K requests of the fault key (path + query) are cut (socket destroyed)
//                                 once their body is read (log: cutAt = bytes received); `status` sets the answer's.
//   GET      /__log               -> {"entries": [...], "maxConcurrent": n, "active": n}
//   POST     /__log/reset         clears the log, maxConcurrent and all fault counters -> {"ok": true}
//
// Fault switches (query params of /files/ and /nocors/). Counters live per "fault key" = the request
// path + "?" + the raw query string exactly as received (e.g. "/files/a.bin?size=9&cut=5"), in memory,
// cleared by POST /__log/reset and resetLog(). Every GET/HEAD with valid params is "request number r"
// of its fault key (r = 1, 2, ...; 503 answers count too). Body faults fire when the response body
// *reaches* an absolute file offset, i.e. the response covers it (range start <= offset < range end) and
// every byte before it has been written; bytes before the offset are flushed to the kernel first, then
// `res.socket.destroy()` (so the client sees exactly those bytes, then a premature close).
//   cut=N1,N2,...      absolute offsets; the first response reaching Ni ends there (socket destroyed),
//                      at most once per offset per fault key (so a retry/resume passes). Log: cutAt = Ni.
//   fail503=K          requests r <= K answer 503 + short text body (no ETag), with `Retry-After: SEC`
//   [&retryAfter=SEC]  only if retryAfter is given; later requests are normal.
//   ignoreRange=1      never honour Range (or If-Range): always 200 + whole body; ETag, Last-Modified and
//                      Accept-Ranges: bytes are still sent (a server that lies about ranges).
//   flipAfter=K        requests r > K get the next representation: seed + 1 (wrapping at 2^32), ETag
//                      version V + 1 (V + "+1" if V is not decimal), Last-Modified LAST_MODIFIED_FLIPPED.
//                      So If-Range with the old ETag/date gets a full 200 of the new bytes, and Range
//                      without If-Range a 206 of the new bytes. The client must then expect the hash of
//                      seed + 1: /sha256?size=N&seed=S+1, or /sha256?size=N&name=<name>&flip=1 when the
//                      seed is the name's default (also &seed=S&flip=1). Beware: seeds 0 and 1 give the
//                      same bytes, so don't flip seed=0.
//   short=K[&shortBy=M] the first K responses that reach offset max(start, end - M) (default M = 1024,
//                      M >= 1) announce the real Content-Length but stop M bytes early (all of a body
//                      shorter than M) and destroy the socket: a lying length. Log: shortAt = offset.
//   stallAt=N[&stallMs=T] when a response body reaches offset N, pause T ms (default 1000) before sending
//                      byte N, once per fault key (throttling with `rate` resumes after the pause).
//                      Log: stalledAt = N.
//   noValidators=1     send neither ETag nor Last-Modified (If-Range then never matches; Range alone
//                      still gets a 206).
// Hostile answers (a server that is wrong, not one that fails):
//   badRange=shift     a 206 starts one byte after the asked offset (a possible range, not ours).
//   badRange=impossible a 206's Content-Range is "bytes <start>-<size>/<size>" (last >= total).
//   partial=1          a request WITHOUT Range gets 206 + "Content-Range: bytes 0-<N-1>/<N>"; one with
//                      Range gets 200 + the whole body (ranges ignored).
//   contentLength=V    Content-Length: V exactly as given (e.g. -5, 99999999999999999999) with
//                      Connection: close; the real body follows and the socket closes.
//   extra=K            no Content-Length (chunked), and K bytes (0x78) more than the range / size after
//                      the body: more bytes than the Content-Range or ETag-size announced.
// Several faults may be combined; at one offset the order is stall, cut, short; a response ends at
// the first cut/short that fires, and only that fault is used up. Bad values -> 400.
//
// Log entries (/files/, /nocors/, /status/, /upload/, /redirect/): {id, method, path, query,
// headers: {range, ifRange}, requestHeaders (all, lower-cased names), range, ifRange, faultKey, flipped, cutAt, shortAt, stalledAt, status,
// bytesSent, completed, aborted, start, end} — faultKey is null and flipped false outside /files/ and
// /nocors/; cutAt/shortAt/stalledAt are null unless that fault fired; /upload/ adds bytesReceived.
//
// Run directly: node tests/server/server.mjs [--port N]   (default 8080, or $PORT)

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export const BLOCK_SIZE = 1 << 20; // 1 MiB pseudo-random block, repeated with a per-MiB XOR
export const CHUNK_SIZE = 1 << 16; // 64 KiB write granularity
const THROTTLE_TICK_MS = 50;
const DEFAULT_FILE_SIZE = BLOCK_SIZE;
export const LAST_MODIFIED = 'Mon, 01 Jan 2024 00:00:00 GMT';
export const LAST_MODIFIED_FLIPPED = 'Tue, 02 Jan 2024 00:00:00 GMT'; // after flipAfter
const DEFAULT_SHORT_BY = 1024;
const DEFAULT_STALL_MS = 1000;
const FLUSH_TIMEOUT_MS = 5000;
const REDIRECT_CODES = new Set([301, 302, 303, 307, 308]);
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1']);

const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.ts': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
};

const CORS_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers':
    'Content-Length, Content-Range, ETag, Last-Modified, Accept-Ranges, Retry-After',
};

// ---------------------------------------------------------------------------
// Deterministic content generator
// ---------------------------------------------------------------------------

/** Stable 32-bit FNV-1a hash of a string's UTF-8 bytes: the default seed for a file name. */
export function hashName(name) {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(String(name), 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** `seed` query value -> uint32: decimal numbers as is, anything else hashed. */
function parseSeed(value, name) {
  if (value == null || value === '') return hashName(name);
  return /^\d+$/.test(value) ? Number(value) >>> 0 : hashName(value);
}

const blockCache = new Map();

/** The 1 MiB block for a seed: xorshift32 seeded with (seed || 1), low 8 bits of each step. */
export function blockForSeed(seed) {
  seed >>>= 0;
  let block = blockCache.get(seed);
  if (!block) {
    block = Buffer.allocUnsafeSlow(BLOCK_SIZE);
    let x = seed || 1;
    for (let i = 0; i < BLOCK_SIZE; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      block[i] = x & 0xff;
    }
    blockCache.set(seed, block);
  }
  return block;
}

/** XOR buf[from, from+n) with the byte k, a word at a time where aligned. */
function xorInPlace(buf, from, n, k) {
  const end = from + n;
  let i = from;
  while (i < end && ((buf.byteOffset + i) & 3)) buf[i++] ^= k;
  const words = (end - i) >>> 2;
  if (words) {
    const u32 = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
    const kk = Math.imul(k, 0x01010101) >>> 0;
    for (let w = 0; w < words; w++) u32[w] ^= kk;
    i += words * 4;
  }
  while (i < end) buf[i++] ^= k;
}

/**
 * Bytes [offset, offset+len) of the generated content: byte i is
 * block[i % 1 MiB] ^ (floor(i / 1 MiB) & 0xff). Returns a fresh buffer (or a read-only
 * view of the cached block when no XOR is needed).
 */
export function generateSlice(block, offset, len) {
  const inBlock = offset % BLOCK_SIZE;
  const k = Math.floor(offset / BLOCK_SIZE) & 0xff;
  if (k === 0 && inBlock + len <= BLOCK_SIZE) return block.subarray(inBlock, inBlock + len);
  const out = Buffer.allocUnsafeSlow(len);
  let pos = 0;
  while (pos < len) {
    const abs = offset + pos;
    const start = abs % BLOCK_SIZE;
    const n = Math.min(len - pos, BLOCK_SIZE - start);
    block.copy(out, pos, start, start + n);
    const x = Math.floor(abs / BLOCK_SIZE) & 0xff;
    if (x) xorInPlace(out, pos, n, x);
    pos += n;
  }
  return out;
}

const sha256Cache = new Map(); // `${size}-${seed}` -> Promise<hex>

/** SHA-256 of the whole generated content, computed a MiB at a time, yielding to the event loop. */
export function sha256OfGenerated(size, seed) {
  const key = `${size}-${seed}`;
  let p = sha256Cache.get(key);
  if (!p) {
    p = (async () => {
      const block = blockForSeed(seed);
      const hash = crypto.createHash('sha256');
      const scratch = Buffer.allocUnsafeSlow(BLOCK_SIZE);
      for (let off = 0, i = 0; off < size; off += BLOCK_SIZE, i++) {
        const n = Math.min(BLOCK_SIZE, size - off);
        const k = (off / BLOCK_SIZE) & 0xff;
        if (k === 0) hash.update(block.subarray(0, n));
        else {
          block.copy(scratch, 0, 0, n);
          xorInPlace(scratch, 0, n, k);
          hash.update(scratch.subarray(0, n));
        }
        if (i % 16 === 15) await new Promise((r) => setImmediate(r));
      }
      return hash.digest('hex');
    })();
    sha256Cache.set(key, p);
    p.catch(() => sha256Cache.delete(key));
  }
  return p;
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** Non-negative safe integer from a query value, `fallback` if absent, NaN if invalid. */
function parseSize(value, fallback) {
  if (value == null || value === '') return fallback;
  if (!/^\d+$/.test(value)) return NaN;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : NaN;
}

/** Parses a single `bytes=` range against `size`: {start, end} | 'unsatisfiable' | null (ignore). */
export function parseRange(header, size) {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return null; // malformed or multi-range: ignore
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  if (m[2] !== '' && Number(m[2]) < start) return null; // syntactically invalid: ignore
  if (start >= size) return 'unsatisfiable';
  const end = m[2] === '' ? size - 1 : Number(m[2]);
  return { start, end: Math.min(end, size - 1) };
}

/** True when an If-Range value (strong ETag or HTTP date) matches the current representation. */
function ifRangeMatches(value, etag, lastModified) {
  const v = value.trim();
  if (v.startsWith('"') || v.startsWith('W/')) return v === etag; // weak tags never match
  const t = Date.parse(v);
  return !Number.isNaN(t) && t === Date.parse(lastModified);
}

/** `1`/`true` -> true, anything else (or absent) -> false. */
function parseFlag(value) {
  return value === '1' || value === 'true';
}

/** Comma-separated offsets -> sorted unique numbers; [] if absent, null if invalid. */
function parseOffsets(value) {
  if (value == null || value === '') return [];
  const out = new Set();
  for (const part of value.split(',')) {
    const n = parseSize(part.trim(), NaN);
    if (Number.isNaN(n)) return null;
    out.add(n);
  }
  return [...out].sort((a, b) => a - b);
}

/** Fault switches of a /files/ query: an object, or an error message string. */
function parseFaults(query) {
  const cuts = parseOffsets(query.get('cut'));
  if (!cuts) return 'bad cut';
  const num = (key, fallback) => parseSize(query.get(key), fallback);
  const f = {
    cuts,
    fail503: num('fail503', 0),
    flipAfter: query.has('flipAfter') ? num('flipAfter', NaN) : null,
    short: num('short', 0),
    shortBy: num('shortBy', DEFAULT_SHORT_BY),
    stallAt: query.has('stallAt') ? num('stallAt', NaN) : null,
    stallMs: num('stallMs', DEFAULT_STALL_MS),
    ignoreRange: parseFlag(query.get('ignoreRange')),
    noValidators: parseFlag(query.get('noValidators')),
    badRange: query.get('badRange'),
    partial: parseFlag(query.get('partial')),
    contentLength: query.get('contentLength'),
    extra: num('extra', 0),
  };
  if (f.badRange != null && !['shift', 'impossible'].includes(f.badRange)) return 'bad badRange';
  if (f.contentLength != null && /[^\x21-\x7e]/.test(f.contentLength)) return 'bad contentLength';
  if (Number.isNaN(f.extra)) return 'bad extra';
  for (const key of ['fail503', 'flipAfter', 'short', 'shortBy', 'stallAt', 'stallMs']) {
    if (Number.isNaN(f[key])) return `bad ${key}`;
  }
  if (f.shortBy < 1) return 'bad shortBy';
  return f;
}

/** The next ETag version: decimal V -> V + 1, anything else -> V + "+1". */
function nextEtagVersion(v) {
  return /^\d+$/.test(v) ? String(BigInt(v) + 1n) : `${v}+1`;
}

/** Waits until everything written to `res` reached the kernel (bounded), then destroys the socket. */
async function flushAndDestroy(res) {
  const socket = res.socket;
  if (!socket) return;
  const deadline = Date.now() + FLUSH_TIMEOUT_MS;
  while (!socket.destroyed && res.writableLength > 0 && Date.now() < deadline) await sleep(1);
  socket.destroy();
}

function waitDrainOrClose(res) {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function sendText(res, status, text, headers = {}) {
  const body = Buffer.from(text, 'utf8');
  const noBody = status === 204 || status === 304;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Cache-Control': 'no-store',
    ...(noBody ? {} : { 'Content-Length': body.length }),
    ...headers,
  });
  res.end(noBody ? undefined : body);
}

function sendJson(res, status, value) {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': body.length,
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

/** Decodes a URL path; null when it contains bad escapes, NULs, backslashes or `..` segments. */
function safeDecodePath(rawPath) {
  let p;
  try {
    p = decodeURIComponent(rawPath);
  } catch {
    return null;
  }
  if (p.includes('\0') || p.includes('\\')) return null;
  if (p.split('/').some((seg) => seg === '..')) return null;
  return p;
}

function isInside(dir, file) {
  const rel = path.relative(dir, file);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

export async function startServer({
  port = 0,
  host = '127.0.0.1',
  root = fileURLToPath(new URL('../../www/', import.meta.url)),
  extraRoots = { '/fixtures/': fileURLToPath(new URL('../fixtures/', import.meta.url)) },
} = {}) {
  if (!LOOPBACK_HOSTS.has(host)) throw new Error(`test server is loopback only, got host ${host}`);
  const rootDir = path.resolve(root);
  const mounts = Object.entries(extraRoots)
    .map(([prefix, dir]) => [prefix.endsWith('/') ? prefix : prefix + '/', path.resolve(dir)])
    .sort((a, b) => b[0].length - a[0].length); // longest prefix first

  const log = [];
  let nextId = 1;
  let active = 0; // currently open /files/ responses
  let maxConcurrent = 0;
  const sockets = new Set();
  const faultStates = new Map(); // fault key -> { requests, cutsFired: Set, shorts, stalled }

  function resetLog() {
    log.length = 0;
    maxConcurrent = active;
    faultStates.clear();
  }

  function faultStateFor(key) {
    let st = faultStates.get(key);
    if (!st) {
      st = { requests: 0, cutsFired: new Set(), shorts: 0, stalled: false };
      faultStates.set(key, st);
    }
    return st;
  }

  /** Pushes a log entry now and finalizes it when the response finishes or the socket closes. */
  function track(req, res, pathname, query, intendedBytes = null) {
    const entry = {
      id: nextId++,
      method: req.method,
      path: pathname,
      query: Object.fromEntries(query),
      headers: { range: req.headers.range ?? null, ifRange: req.headers['if-range'] ?? null },
      requestHeaders: { ...req.headers },
      range: req.headers.range ?? null,
      ifRange: req.headers['if-range'] ?? null,
      faultKey: null,
      flipped: false,
      cutAt: null,
      shortAt: null,
      stalledAt: null,
      status: null,
      bytesSent: 0,
      completed: false,
      aborted: false,
      start: Date.now(),
      end: null,
    };
    Object.defineProperty(entry, 'intended', { value: 0, writable: true, enumerable: false });
    log.push(entry);
    // Record the status as soon as the head is written, so in-flight entries show it.
    const writeHead = res.writeHead;
    res.writeHead = function (...args) {
      const result = writeHead.apply(this, args);
      entry.status = this.statusCode;
      return result;
    };
    let done = false;
    const finalize = () => {
      if (done) return;
      done = true;
      entry.status = res.statusCode;
      entry.end = Date.now();
      const intended = intendedBytes ? intendedBytes() : entry.intended;
      entry.completed = res.writableFinished && entry.bytesSent === intended;
      entry.aborted = !res.writableFinished;
    };
    res.on('finish', finalize);
    res.on('close', finalize);
    return entry;
  }

  // ---- /files/<name> and /nocors/<name> ------------------------------------
  async function handleFiles(req, res, pathname, query, rawQuery, prefix) {
    const entry = track(req, res, pathname, query);
    active++;
    maxConcurrent = Math.max(maxConcurrent, active);
    res.on('close', () => active--);

    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendText(res, 405, 'method not allowed', { Allow: 'GET, HEAD, OPTIONS' });
    }
    const name = safeDecodePath(pathname.slice(prefix.length));
    if (name == null || name === '') return sendText(res, 400, 'bad file name');
    const size = parseSize(query.get('size'), DEFAULT_FILE_SIZE);
    const rate = parseSize(query.get('rate'), 0);
    const forced = parseSize(query.get('status'), 0);
    if (Number.isNaN(size)) return sendText(res, 400, 'bad size');
    if (Number.isNaN(rate)) return sendText(res, 400, 'bad rate');
    if (Number.isNaN(forced) || (forced && (forced < 200 || forced > 599))) {
      return sendText(res, 400, 'bad status');
    }
    const faults = parseFaults(query);
    if (typeof faults === 'string') return sendText(res, 400, faults);
    const faultKey = rawQuery ? `${pathname}?${rawQuery}` : pathname;
    entry.faultKey = faultKey;
    const fstate = faultStateFor(faultKey);
    const requestNo = ++fstate.requests;
    const retryAfter = query.get('retryAfter');

    if (requestNo <= faults.fail503) {
      const body = `503 service unavailable (fault ${requestNo}/${faults.fail503})`;
      if (req.method !== 'HEAD') entry.intended = entry.bytesSent = Buffer.byteLength(body);
      return sendText(res, 503, body, retryAfter ? { 'Retry-After': retryAfter } : {});
    }

    const flipped = faults.flipAfter != null && requestNo > faults.flipAfter;
    entry.flipped = flipped;
    let seed = parseSeed(query.get('seed'), name);
    let etagVersion = (query.get('etag') ?? '1').replace(/[^\x21\x23-\x7e]/g, '');
    if (flipped) {
      seed = (seed + 1) >>> 0;
      etagVersion = nextEtagVersion(etagVersion);
    }
    const etag = `"${size}-${seed}-${etagVersion}"`;
    const lastModified = flipped ? LAST_MODIFIED_FLIPPED : LAST_MODIFIED;
    const validators = !faults.noValidators;

    const headers = {
      'Content-Type': 'application/octet-stream',
      'Cache-Control': 'no-store',
      ...(validators ? { ETag: etag, 'Last-Modified': lastModified } : {}),
      'Accept-Ranges': 'bytes',
    };
    if (retryAfter) headers['Retry-After'] = retryAfter;

    let status = forced || 200;
    let start = 0;
    let length = size;
    const rangeHeader = req.headers.range;
    const ifRange = req.headers['if-range'];
    if (
      !forced &&
      !faults.ignoreRange &&
      !faults.partial &&
      rangeHeader &&
      (!ifRange || (validators && ifRangeMatches(ifRange, etag, lastModified)))
    ) {
      const range = parseRange(rangeHeader, size);
      if (range === 'unsatisfiable') {
        return sendText(res, 416, 'range not satisfiable', { 'Content-Range': `bytes */${size}` });
      }
      if (range) {
        status = 206;
        start = range.start;
        length = range.end - range.start + 1;
        headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`;
      }
    }
    if (faults.partial && !rangeHeader && !forced && size > 0) {
      status = 206; // a 206 to a request without Range
      headers['Content-Range'] = `bytes 0-${size - 1}/${size}`;
    }
    if (status === 206 && faults.badRange === 'shift' && length > 1) {
      start += 1; // a possible range, but not the one asked for
      length -= 1;
      headers['Content-Range'] = `bytes ${start}-${start + length - 1}/${size}`;
    } else if (status === 206 && faults.badRange === 'impossible') {
      headers['Content-Range'] = `bytes ${start}-${size}/${size}`; // last >= total
    }
    const noBody = req.method === 'HEAD' || status === 204 || status === 304;
    if (status !== 204) headers['Content-Length'] = length;
    if (faults.contentLength != null) {
      headers['Content-Length'] = faults.contentLength; // a lie; the body ends when the socket closes
      headers.Connection = 'close';
    }
    if (faults.extra > 0) {
      delete headers['Content-Length']; // chunked: the browser cannot cut the surplus
    }
    entry.intended = noBody ? 0 : length;
    res.writeHead(status, headers);
    if (noBody || length === 0) return res.end();
    res.flushHeaders();

    // Absolute offsets where a fault may fire inside this response: chunks stop at each of them.
    const end = start + length; // exclusive
    const shortAt = faults.short > 0 ? Math.max(start, end - faults.shortBy) : null;
    const stops = [...faults.cuts, faults.stallAt, shortAt]
      .filter((o) => o != null && o >= start && o < end)
      .sort((a, b) => a - b);

    const block = blockForSeed(seed);
    let closed = false;
    const closedSignal = new AbortController();
    res.on('close', () => {
      closed = true;
      closedSignal.abort();
    });
    let t0 = performance.now();
    let sent = 0;
    while (sent < length) {
      if (closed) return;
      const offset = start + sent;
      if (offset === faults.stallAt && !fstate.stalled) {
        fstate.stalled = true;
        entry.stalledAt = offset;
        const s0 = performance.now();
        try {
          await sleep(faults.stallMs, undefined, { signal: closedSignal.signal });
        } catch {
          return; // closed while stalled
        }
        t0 += performance.now() - s0; // the throttle resumes where it left off
        continue;
      }
      if (faults.cuts.includes(offset) && !fstate.cutsFired.has(offset)) {
        fstate.cutsFired.add(offset);
        entry.cutAt = offset;
        return flushAndDestroy(res);
      }
      if (offset === shortAt && fstate.shorts < faults.short) {
        fstate.shorts++;
        entry.shortAt = offset;
        return flushAndDestroy(res);
      }
      // Chunks end on 64 KiB boundaries, so they never straddle a 1 MiB block.
      let n = Math.min(length - sent, CHUNK_SIZE - (offset % CHUNK_SIZE));
      const nextStop = stops.find((o) => o > offset);
      if (nextStop != null) n = Math.min(n, nextStop - offset);
      if (rate) {
        const allowed = Math.floor((rate * (performance.now() - t0)) / 1000) - sent;
        if (allowed <= 0) {
          await sleep(THROTTLE_TICK_MS);
          continue;
        }
        n = Math.min(n, allowed);
      }
      const buf = generateSlice(block, offset, n);
      sent += n;
      entry.bytesSent += n;
      if (!res.write(buf)) await waitDrainOrClose(res);
    }
    if (!closed && faults.extra > 0) {
      const surplus = Buffer.alloc(faults.extra, 0x78);
      entry.bytesSent += surplus.length;
      entry.intended += surplus.length;
      res.write(surplus);
    }
    if (!closed) res.end();
  }

  // ---- /sha256 ------------------------------------------------------------
  async function handleSha256(req, res, query) {
    const size = parseSize(query.get('size'), DEFAULT_FILE_SIZE);
    if (Number.isNaN(size)) return sendText(res, 400, 'bad size');
    let seed = query.has('seed') ? parseSeed(query.get('seed'), '') : hashName(query.get('name') ?? '');
    if (parseFlag(query.get('flip'))) seed = (seed + 1) >>> 0;
    const sha256 = await sha256OfGenerated(size, seed);
    if (!res.destroyed) sendJson(res, 200, { sha256, size });
  }

  // ---- /status/<code> -----------------------------------------------------
  function handleStatus(req, res, pathname, query) {
    const entry = track(req, res, pathname, query);
    req.resume(); // drain any request body
    const m = /^\/status\/(\d{3})$/.exec(pathname);
    const code = m ? Number(m[1]) : 0;
    if (code < 200 || code > 599) return sendText(res, 400, 'bad status code');
    const body = `status ${code}`;
    const extra = {};
    const retryAfter = query.get('retryAfter');
    if (retryAfter) extra['Retry-After'] = retryAfter;
    const hasBody = req.method !== 'HEAD' && code !== 204 && code !== 304;
    entry.intended = hasBody ? Buffer.byteLength(body) : 0;
    if (hasBody) entry.bytesSent = entry.intended;
    sendText(res, code, body, extra);
  }

  // ---- /redirect/<n> -----------------------------------------------------
  function handleRedirect(req, res, pathname, query) {
    const entry = track(req, res, pathname, query);
    req.resume(); // drain any request body
    if (pathname === '/redirect/loop') {
      const location = `/redirect/loop${query.size ? `?${query}` : ''}`;
      const body = `redirect to ${location}`;
      if (req.method !== 'HEAD') entry.intended = entry.bytesSent = Buffer.byteLength(body);
      return sendText(res, 302, body, { Location: location });
    }
    const m = /^\/redirect\/(\d+)$/.exec(pathname);
    const hops = m ? Number(m[1]) : 0;
    if (!(hops >= 1 && Number.isSafeInteger(hops))) return sendText(res, 400, 'bad redirect count');
    const to = query.get('to');
    if (!to || /[^\x21-\x7e]/.test(to)) return sendText(res, 400, 'bad or missing `to`');
    const code = parseSize(query.get('status'), 302);
    if (!REDIRECT_CODES.has(code)) return sendText(res, 400, 'bad redirect status');
    const location = hops > 1 ? `/redirect/${hops - 1}?${query}` : to;
    const body = `redirect to ${location}`;
    if (req.method !== 'HEAD') entry.intended = entry.bytesSent = Buffer.byteLength(body);
    sendText(res, code, body, { Location: location });
  }

  // ---- /upload/<name> -----------------------------------------------------
  function handleUpload(req, res, pathname, query, rawQuery) {
    const entry = track(req, res, pathname, query, () => entry.bytesSent);
    entry.bytesReceived = 0;
    if (req.method !== 'PUT' && req.method !== 'POST') {
      req.resume();
      return sendText(res, 405, 'method not allowed', { Allow: 'PUT, POST, OPTIONS' });
    }
    const delayMs = parseSize(query.get('delayMs'), 0);
    const drop = parseSize(query.get('drop'), 0);
    const forced = parseSize(query.get('status'), 200);
    if (Number.isNaN(delayMs) || Number.isNaN(drop) || Number.isNaN(forced) || forced < 200 || forced > 599) {
      req.resume();
      return sendText(res, 400, 'bad delayMs, drop or status');
    }
    const faultKey = rawQuery ? `${pathname}?${rawQuery}` : pathname;
    entry.faultKey = faultKey;
    const requestNo = ++faultStateFor(faultKey).requests;
    const hash = crypto.createHash('sha256');
    req.on('data', (chunk) => {
      hash.update(chunk);
      entry.bytesReceived += chunk.length;
    });
    req.on('end', () => {
      if (requestNo <= drop) {
        entry.cutAt = entry.bytesReceived;
        return res.socket.destroy();
      }
      const body = JSON.stringify({ size: entry.bytesReceived, sha256: hash.digest('hex'), method: req.method, contentType: req.headers['content-type'] ?? null });
      const answer = () => {
        if (res.destroyed) return;
        entry.bytesSent = Buffer.byteLength(body);
        sendJson(res, forced, JSON.parse(body));
      };
      if (delayMs) setTimeout(answer, delayMs);
      else answer();
    });
  }

  // ---- static files -------------------------------------------------------
  async function handleStatic(req, res, rawPath) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendText(res, 405, 'method not allowed', { Allow: 'GET, HEAD, OPTIONS' });
    }
    const decoded = safeDecodePath(rawPath);
    if (decoded == null) return sendText(res, 403, 'forbidden');

    let dir = rootDir;
    let rel = decoded;
    for (const [prefix, mountDir] of mounts) {
      if (decoded === prefix.slice(0, -1)) {
        return sendText(res, 301, 'moved', { Location: prefix });
      }
      if (decoded.startsWith(prefix)) {
        dir = mountDir;
        rel = decoded.slice(prefix.length - 1);
        break;
      }
    }
    let file = path.resolve(dir, '.' + rel);
    if (!isInside(dir, file)) return sendText(res, 403, 'forbidden');

    let stat;
    try {
      stat = await fs.promises.stat(file);
      if (stat.isDirectory()) {
        if (!rawPath.endsWith('/')) {
          const qs = req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
          return sendText(res, 301, 'moved', { Location: rawPath + '/' + qs });
        }
        file = path.join(file, 'index.html');
        stat = await fs.promises.stat(file);
      }
      if (!stat.isFile()) throw new Error('not a file');
    } catch {
      return sendText(res, 404, 'not found');
    }

    const ext = path.extname(file).toLowerCase();
    // Revalidated on every use (a rebuild is seen at once), but cacheable as
    // a deployed site's files are: an unchanged file is a 304, and Chromium
    // keeps the compiled wasm with its cache entry, so a relaunch does not
    // compile it again.
    const etag = `"${stat.size.toString(16)}-${Math.round(stat.mtimeMs * 1000).toString(16)}"`;
    const headers = {
      'Content-Type': MIME_TYPES[ext] ?? 'application/octet-stream',
      'Content-Length': stat.size,
      'Cache-Control': 'no-cache',
      ETag: etag,
      'Last-Modified': stat.mtime.toUTCString(),
    };
    if (ext === '.js' || ext === '.mjs') headers['Service-Worker-Allowed'] = '/';
    if (req.headers['if-none-match'] === etag) {
      delete headers['Content-Length'];
      res.writeHead(304, headers);
      return res.end();
    }
    if (req.method === 'HEAD') {
      res.writeHead(200, headers);
      return res.end();
    }
    const stream = fs.createReadStream(file);
    stream.on('error', () => {
      if (!res.headersSent) sendText(res, 500, 'read error');
      else res.destroy();
    });
    stream.once('open', () => {
      res.writeHead(200, headers);
      stream.pipe(res);
    });
    res.on('close', () => stream.destroy());
  }

  // ---- dispatch -----------------------------------------------------------
  async function handle(req, res) {
    const q = req.url.indexOf('?');
    const rawPath = q < 0 ? req.url : req.url.slice(0, q);
    const rawQuery = q < 0 ? '' : req.url.slice(q + 1);
    const query = new URLSearchParams(rawQuery);
    const cors = !rawPath.startsWith('/nocors/');
    if (cors) for (const [k, v] of Object.entries(CORS_HEADERS)) res.setHeader(k, v);
    if (!req.url.startsWith('/')) return sendText(res, 400, 'bad request target');

    if (req.method === 'OPTIONS') {
      req.resume();
      res.writeHead(
        204,
        cors
          ? {
              'Access-Control-Allow-Headers': '*',
              'Access-Control-Allow-Methods': 'GET, HEAD, POST, PUT, OPTIONS',
              'Access-Control-Max-Age': '600',
            }
          : {},
      );
      return res.end();
    }
    if (rawPath === '/__log') {
      return sendJson(res, 200, { entries: log, maxConcurrent, active });
    }
    if (rawPath === '/__log/reset') {
      if (req.method !== 'POST') return sendText(res, 405, 'use POST', { Allow: 'POST, OPTIONS' });
      req.resume();
      resetLog();
      return sendJson(res, 200, { ok: true });
    }
    if (rawPath.startsWith('/files/')) return handleFiles(req, res, rawPath, query, rawQuery, '/files/');
    if (rawPath.startsWith('/nocors/')) return handleFiles(req, res, rawPath, query, rawQuery, '/nocors/');
    if (rawPath.startsWith('/redirect/')) return handleRedirect(req, res, rawPath, query);
    if (rawPath === '/sha256') return handleSha256(req, res, query);
    if (rawPath.startsWith('/status/')) return handleStatus(req, res, rawPath, query);
    if (rawPath.startsWith('/upload/')) return handleUpload(req, res, rawPath, query, rawQuery);
    return handleStatic(req, res, rawPath);
  }

  const server = http.createServer({ keepAlive: true }, (req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) sendText(res, 500, `server error: ${err?.message ?? err}`);
      else res.destroy(err);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = server.address().port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closing = null;
  return {
    port: actualPort,
    url: `http://${urlHost}:${actualPort}`,
    root: rootDir,
    extraRoots: Object.fromEntries(mounts),
    log,
    resetLog,
    get maxConcurrent() {
      return maxConcurrent;
    },
    get active() {
      return active;
    },
    close() {
      closing ??= new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

// ---------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------

function isMain() {
  if (!process.argv[1]) return false;
  try {
    return import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  const args = process.argv.slice(2);
  let port = process.env.PORT ? Number(process.env.PORT) : 8080;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--port') port = Number(args[++i]);
    else if (args[i].startsWith('--port=')) port = Number(args[i].slice('--port='.length));
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`invalid port: ${port}`);
    process.exit(2);
  }
  const srv = await startServer({ port });
  console.log(`bgsession test server on ${srv.url}`);
  const shutdown = () => srv.close().then(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
