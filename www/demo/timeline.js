// The live timeline: two lanes, App (this page) and Daemon (the Service
// Worker), with every delegate callback as a mark on the App lane at the time
// it was delivered. It is persisted in localStorage (capped), so a page that
// opens again shows what happened before it was closed, and the time it was
// closed ("closed" is inferred: the page records lastSeen every second).
//
// The time axis is piecewise linear: quiet stretches longer than BREAK_MS are
// drawn as a short break (⋯ 3 min ⋯) and marks close together are pulled
// apart to at least MIN_PX, so a burst of replayed callbacks stays readable.
import { $, el, svg, clock, formatDuration, APPLE, SHORT, appleName, readJSON, writeJSON } from "./util.js";

const KEY = "bgsession-demo.timeline.v1";
const SEEN_KEY = "bgsession-demo.lastSeen.v1";
const MAX_MARKS = 800;
const MAX_LIVES = 40;

const BREAK_MS = 45_000;
const BREAK_PX = 64;
const MIN_PX = 20; // between two callbacks
const MIN_TICK_PX = 3; // between progress ticks
const HOLD_MS = 5_000; // the lanes hold still this long at most under a pointer resting on a mark
const P_MIN = 4; // px per second at least (the timeline scrolls sideways beyond)
const PAD_L = 12;
const PAD_R = 40;
const HEIGHT = 156;
const Y = {
  appMark: 26,
  appBar: [48, 62],
  daemonMark: 88,
  daemonBar: [104, 118],
  axis: 130,
  label: 146,
};

const uid = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;

// What a mark looks like: "ok", "err", "cancel", "resume", "wait", "launch", "action", "daemon-*".
function tone(m) {
  switch (m.kind) {
    case "didCompleteWithError":
      return m.code == null ? "ok" : m.code === -999 ? "cancel" : "err";
    case "didFinishDownloadingTo":
      return "ok";
    case "didResumeAtOffset":
      return m.restart ? "restart" : "resume";
    case "didWriteData":
      return m.restart ? "restart" : "plain";
    case "didSendBodyData":
    case "didReceiveData":
      return "data";
    case "taskIsWaitingForConnectivity":
      return "wait";
    case "launch":
    case "handleEventsForBackgroundURLSession":
    case "urlSessionDidFinishEvents":
      return "launch";
    case "action":
      return "action";
    case "didBecomeInvalidWithError":
      return "err";
    default:
      return m.kind.startsWith("daemon:") ? m.kind.replace(":", "-") : "plain";
  }
}

function titleOf(m) {
  if (m.kind === "launch") return "The app opened (page load)";
  if (m.kind === "action") return `You: ${m.action || "an action"}`;
  if (m.kind.startsWith("daemon:")) return `Daemon: ${SHORT[m.kind] || m.kind.slice(7)}`;
  return APPLE[m.kind] || m.kind;
}

export class Timeline {
  constructor() {
    this.lives = [];
    this.marks = [];
    this.clearedAt = 0;
    this.life = null;
    this.seen = {};
    this.items = new Map(); // mark id -> list <li>
    this.runs = new Map(); // progress run key -> {li, count}
    this.listed = new Set(); // mark ids shown in the list
    this.nodes = new Map(); // mark id -> svg <g>
    this.focusId = null;
    this.stick = true;
    this.dirty = false;
    this.saveTimer = null;
    this.frame = 0;

    this.scroll = $("tl-scroll");
    this.svg = $("tl-svg");
    this.tip = $("tl-tip");
    this.list = $("callbacks");
    this.empty = $("callbacks-empty");
    this.summary = $("tl-summary");
    this.layers = {
      back: svg("g", { class: "tl-back", "aria-hidden": "true" }),
      marks: svg("g", { class: "tl-marks" }),
      front: svg("g", { class: "tl-front", "aria-hidden": "true" }),
    };
    this.svg.append(
      svg("defs", {},
        svg("pattern", { id: "tl-hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
          svg("rect", { width: 6, height: 6, class: "tl-hatch-bg" }),
          svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "tl-hatch-line" }),
        ),
      ),
      this.layers.back, this.layers.marks, this.layers.front,
    );

    this.scroll.addEventListener("scroll", () => {
      this.stick = this.scroll.scrollLeft + this.scroll.clientWidth >= this.scroll.scrollWidth - 24;
      this.hideTip();
    });
    new ResizeObserver(() => this.render()).observe(this.scroll);
    this.svg.addEventListener("keydown", (ev) => this.onKey(ev));

    // Keep the newest list entry in view unless the reader scrolled up.
    const box = this.list.parentElement;
    let stickList = true;
    let setByUs = -1;
    box.addEventListener("scroll", () => {
      if (Math.abs(box.scrollTop - setByUs) < 2) return;
      stickList = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
    });
    new ResizeObserver(() => {
      if (!stickList) return;
      box.scrollTop = box.scrollHeight;
      setByUs = box.scrollTop;
    }).observe(this.list);
  }

  // ---- persistence --------------------------------------------------------

  // Reads the stored history and starts this page's life. Returns what the
  // previous life tells: {closedAt, closedFor} or null on a first visit.
  open() {
    const stored = readJSON(KEY, null);
    this.seen = readJSON(SEEN_KEY, {}) || {};
    if (stored && stored.v === 1) {
      this.lives = Array.isArray(stored.lives) ? stored.lives : [];
      this.marks = Array.isArray(stored.marks) ? stored.marks : [];
      this.clearedAt = stored.clearedAt || 0;
    }
    for (const l of this.lives) l.end = Math.max(l.start, this.seen[l.id] || l.end || l.start);
    const now = Date.now();
    const prev = this.lives.at(-1) || null;
    this.life = { id: uid(), start: now, end: now, relaunched: false };
    this.lives.push(this.life);
    this.touch();
    setInterval(() => this.touch(), 1000);
    addEventListener("pagehide", () => {
      this.touch();
      this.save();
    });
    for (const m of this.marks) this.listAppend(m, false);
    this.mark({ lane: "app", kind: "launch", text: prev
      ? `The page opened again. It was last seen at ${clock(prev.end)}, so it was closed for ${formatDuration(now - prev.end)} (inferred from the lastSeen time it stores every second).`
      : "The page opened: the app launched. On iOS the user tapped its icon." });
    this.tickLoop();
    return prev ? { closedAt: prev.end, closedFor: now - prev.end } : null;
  }

  // lastSeen, every second (a closed page stops updating it).
  touch() {
    if (!this.life) return;
    this.life.end = Date.now();
    this.seen[this.life.id] = this.life.end;
    // Forget lastSeen entries of lives no longer kept.
    const keep = new Set(this.lives.map((l) => l.id));
    for (const id of Object.keys(this.seen)) if (!keep.has(id)) delete this.seen[id];
    writeJSON(SEEN_KEY, this.seen);
  }

  scheduleSave(soon = false) {
    this.dirty = true;
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => this.save(), soon ? 50 : 400);
  }

  // Read, merge (another tab of the demo may have written), cap, write.
  save() {
    clearTimeout(this.saveTimer);
    this.saveTimer = null;
    const stored = readJSON(KEY, null);
    const clearedAt = Math.max(this.clearedAt, (stored && stored.clearedAt) || 0);
    const byId = new Map();
    const lives = new Map();
    if (stored && stored.v === 1) {
      for (const m of stored.marks || []) byId.set(m.id, m);
      for (const l of stored.lives || []) lives.set(l.id, l);
    }
    for (const m of this.marks) byId.set(m.id, m);
    for (const l of this.lives) lives.set(l.id, { ...l });
    let marks = [...byId.values()].filter((m) => m.at >= clearedAt).sort((a, b) => a.at - b.at);
    if (marks.length > MAX_MARKS) marks = marks.slice(marks.length - MAX_MARKS);
    const oldest = marks.length ? marks[0].at : Date.now();
    let livesOut = [...lives.values()]
      .filter((l) => l.id === this.life.id || ((this.seen[l.id] || l.end || l.start) >= Math.max(clearedAt, oldest - 60_000)))
      .sort((a, b) => a.start - b.start);
    if (livesOut.length > MAX_LIVES) livesOut = livesOut.slice(livesOut.length - MAX_LIVES);
    const foreign = marks.some((m) => !this.listed.has(m.id));
    writeJSON(KEY, { v: 1, clearedAt, lives: livesOut, marks });
    this.dirty = false;
    this.clearedAt = clearedAt;
    this.marks = marks;
    const mine = this.life;
    this.lives = livesOut.map((l) => (l.id === mine.id ? mine : l));
    if (foreign) this.rebuildList();
    this.render();
  }

  clear() {
    this.clearedAt = Date.now();
    this.marks = [];
    this.lives = [this.life];
    this.life.start = this.clearedAt;
    this.items.clear();
    this.runs.clear();
    this.listed.clear();
    this.lastListLife = null;
    this.list.replaceChildren();
    this.empty.hidden = false;
    this.save();
  }

  // ---- adding marks -------------------------------------------------------

  // {lane, kind, task, taskKey, text, replayed, code, action, transfers}
  mark(props) {
    // Callbacks delivered in the same millisecond (an upload's didSendBodyData
    // and didReceiveData) get distinct times, so the scale spreads them apart.
    const at = Math.max(Date.now(), (this.lastAt || 0) + 1);
    if (props.at == null) this.lastAt = at;
    const m = { id: uid(), at, life: this.life.id, notes: [], ...props };
    this.marks.push(m);
    this.listAppend(m, true);
    this.scheduleSave(m.kind !== "didWriteData");
    this.requestRender();
    const self = this;
    return {
      mark: m,
      note(text) {
        m.notes.push(text);
        const li = self.items.get(m.id);
        if (li) li.append(el("p", { class: "cb-note", text }));
        self.scheduleSave(true);
      },
    };
  }

  relaunched() {
    this.life.relaunched = true;
    this.scheduleSave(true);
  }

  // ---- the list (for screen readers and small screens) --------------------

  rebuildList() {
    this.items.clear();
    this.runs.clear();
    this.listed.clear();
    this.list.replaceChildren();
    this.lastListLife = null;
    for (const m of this.marks) this.listAppend(m, false);
  }

  listAppend(m, live) {
    this.listed.add(m.id);
    // A new life starts a separator line.
    if (m.life !== this.lastListLife) {
      this.lastListLife = m.life;
      this.runs.clear();
      const life = this.lives.find((l) => l.id === m.life);
      const idx = life ? this.lives.indexOf(life) : -1;
      const prev = idx > 0 ? this.lives[idx - 1] : null;
      if (life) {
        const gap = prev ? life.start - prev.end : 0;
        const text = prev && gap > 1500
          ? `Closed from ${clock(prev.end)} to ${clock(life.start)} (${formatDuration(gap)}). The page opened again at ${clock(life.start)}.`
          : `The page opened at ${clock(life.start)}.`;
        this.list.append(el("li", { class: "cb life", dataset: { method: "life" } }, el("p", { class: "cb-explain", text })));
      }
    }
    this.empty.hidden = true;
    if (m.kind === "didWriteData" && !m.restart) {
      const key = `${m.taskKey}:${m.replayed ? 1 : 0}`;
      let run = this.runs.get(key);
      if (!run) {
        const explain = el("p", { class: "cb-explain" });
        const time = el("time");
        const li = this.listItem(m, time, explain);
        run = { li, explain, time, count: 0 };
        this.runs.set(key, run);
        this.list.append(li);
      }
      run.count++;
      run.time.dateTime = new Date(m.at).toISOString();
      run.time.textContent = clock(m.at);
      run.explain.textContent = run.count > 1 ? `${m.text} (${run.count} calls merged into this line)` : m.text;
      return;
    }
    // Any other event of the task ends its progress line.
    if (m.taskKey != null) {
      this.runs.delete(`${m.taskKey}:0`);
      this.runs.delete(`${m.taskKey}:1`);
    }
    const li = this.listItem(m, el("time", { datetime: new Date(m.at).toISOString(), text: clock(m.at) }), el("p", { class: "cb-explain", text: m.text }));
    for (const n of m.notes || []) li.append(el("p", { class: "cb-note", text: n }));
    this.items.set(m.id, li);
    this.list.append(li);
    if (live) li.dataset.live = "1";
  }

  listItem(m, time, explain) {
    const daemon = m.lane === "daemon";
    const classes = ["cb", m.replayed ? "replayed" : "", daemon ? "daemon" : "", `tone-${tone(m)}`];
    if (m.kind === "handleEventsForBackgroundURLSession" || m.kind === "urlSessionDidFinishEvents") classes.push("launch");
    return el("li", { class: classes.filter(Boolean).join(" "), dataset: { method: m.kind, mark: m.id } },
      el("div", { class: "cb-head" },
        time,
        m.replayed ? el("span", { class: "badge badge-replayed", text: "replayed" }) : null,
        m.kind === "handleEventsForBackgroundURLSession" ? el("span", { class: "badge badge-launch", text: "relaunch" }) : null,
        daemon ? el("span", { class: "badge badge-daemon", text: "daemon" }) : null,
        m.kind === "action" ? el("span", { class: "badge badge-action", text: "you" }) : null,
        m.task ? el("span", { class: "cb-task", text: m.task }) : null,
      ),
      APPLE[m.kind] ? appleName(APPLE[m.kind]) : el("strong", { class: "cb-title", text: titleOf(m) }),
      explain,
    );
  }

  // ---- drawing ------------------------------------------------------------

  tickLoop() {
    setInterval(() => this.requestRender(), 1000);
  }

  // While the pointer rests on a mark (at most HOLD_MS), the lanes hold
  // still: the scale follows the clock and new marks, so the mark would
  // slide from under the pointer and the tip jump to its neighbour. What
  // came meanwhile is drawn when the pointer leaves (or the hold ends).
  requestRender() {
    if (this.frame) return;
    if (this.hoverAt && performance.now() - this.hoverAt < HOLD_MS) {
      this.renderWanted = true;
      return;
    }
    this.renderWanted = false;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  // Key times and the piecewise-linear scale through them.
  scale(now, available) {
    const keys = new Map(); // time -> important?
    const add = (t, important) => {
      if (!(t >= this.startTime)) return;
      keys.set(t, (keys.get(t) || false) || important);
    };
    for (const l of this.lives) {
      add(l.start, true);
      add(Math.min(l.id === this.life.id ? now : l.end, now), true);
    }
    for (const m of this.marks) add(m.at, m.kind !== "didWriteData" || Boolean(m.restart));
    add(now, true);
    const times = [...keys.keys()].sort((a, b) => a - b);
    const pieces = [];
    for (let i = 1; i < times.length; i++) {
      const dt = times[i] - times[i - 1];
      pieces.push({ from: times[i - 1], to: times[i], dt, isBreak: dt > BREAK_MS, important: keys.get(times[i]) });
    }
    // Widths at p px/s: linear, at least MIN_TICK_PX per step, breaks fixed,
    // and at least MIN_PX between two consecutive important keys.
    const widths = (p) => {
      const out = new Array(pieces.length);
      let since = Infinity;
      for (let i = 0; i < pieces.length; i++) {
        const q = pieces[i];
        let w = q.isBreak ? BREAK_PX : Math.max((q.dt / 1000) * p, q.dt > 0 ? MIN_TICK_PX : 0);
        since += w;
        if (q.important) {
          if (since < MIN_PX) w += MIN_PX - since;
          since = 0;
        }
        out[i] = w;
      }
      return out;
    };
    const sum = (a) => a.reduce((s, w) => s + w, 0);
    let p = P_MIN;
    if (sum(widths(P_MIN)) < available) {
      let lo = P_MIN;
      let hi = 1e7;
      for (let i = 0; i < 60; i++) {
        const mid = (lo + hi) / 2;
        if (sum(widths(mid)) < available) lo = mid;
        else hi = mid;
      }
      p = lo;
    }
    const final = widths(p);
    let x = PAD_L;
    pieces.forEach((q, i) => {
      q.x0 = x;
      q.w = final[i];
      x += q.w;
      q.x1 = x;
    });
    const first = times[0] ?? now;
    const xOf = (t) => {
      if (t <= first) return PAD_L;
      // Binary search for the piece holding t.
      let lo = 0;
      let hi = pieces.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (pieces[mid].to < t) lo = mid + 1;
        else hi = mid;
      }
      const q = pieces[lo];
      if (!q) return PAD_L;
      if (t >= q.to) return q.x1;
      return q.x0 + (q.dt > 0 ? ((t - q.from) / q.dt) * q.w : 0);
    };
    return { xOf, pieces, width: x + PAD_R, pxPerSecond: p };
  }

  // The daemon lane's states: [{from, to, state}] with state busy | idle |
  // killed | unknown | unobserved (no page was open to listen).
  daemonSpans(now) {
    const spans = [];
    const lives = this.lives.filter((l) => (l.id === this.life.id ? now : l.end) >= this.startTime);
    const events = this.marks.filter((m) => m.lane === "daemon");
    let prevEnd = null;
    for (const l of lives) {
      const end = l.id === this.life.id ? now : l.end;
      const start = Math.max(l.start, this.startTime);
      if (prevEnd != null && start > prevEnd) spans.push({ from: prevEnd, to: start, state: "unobserved" });
      let state = "unknown";
      let t = start;
      for (const e of events) {
        if (e.life !== l.id || e.at < start) continue;
        const next = e.kind === "daemon:busy" ? "busy"
          : e.kind === "daemon:idle" ? "idle"
          : e.kind === "daemon:killed" ? "killed"
          : e.kind === "daemon:started" ? (state === "busy" ? "busy" : "idle")
          : e.kind === "daemon:status" ? (e.transfers > 0 ? "busy" : "idle")
          : state;
        if (next !== state) {
          if (e.at > t) spans.push({ from: t, to: e.at, state });
          state = next;
          t = e.at;
        }
      }
      if (end > t) spans.push({ from: t, to: end, state });
      prevEnd = Math.max(prevEnd ?? end, end);
    }
    return spans;
  }

  render() {
    if (!this.life) return;
    const now = Date.now();
    this.startTime = Math.max(this.clearedAt, Math.min(this.lives[0]?.start ?? now, this.marks[0]?.at ?? now));
    const available = Math.max(200, this.scroll.clientWidth - PAD_L - PAD_R);
    const { xOf, pieces, width } = this.scale(now, available);
    const W = Math.max(width, this.scroll.clientWidth);
    this.svg.setAttribute("width", W);
    this.svg.setAttribute("height", HEIGHT);
    this.svg.setAttribute("viewBox", `0 0 ${W} ${HEIGHT}`);
    this.xOf = xOf;

    // Background: lanes, spans, breaks, axis.
    const back = [];
    back.push(svg("line", { x1: 0, x2: W, y1: (Y.appBar[0] + Y.appBar[1]) / 2, y2: (Y.appBar[0] + Y.appBar[1]) / 2, class: "tl-lane-line" }));
    back.push(svg("line", { x1: 0, x2: W, y1: (Y.daemonBar[0] + Y.daemonBar[1]) / 2, y2: (Y.daemonBar[0] + Y.daemonBar[1]) / 2, class: "tl-lane-line" }));

    // App lane: alive (each page life), closed (between lives).
    const closedGaps = [];
    const lives = this.lives.filter((l) => (l.id === this.life.id ? now : l.end) >= this.startTime);
    lives.forEach((l, i) => {
      const end = l.id === this.life.id ? now : l.end;
      const x0 = xOf(Math.max(l.start, this.startTime));
      const x1 = Math.max(xOf(end), x0 + 2);
      back.push(svg("rect", { x: x0, y: Y.appBar[0], width: x1 - x0, height: Y.appBar[1] - Y.appBar[0], rx: 3, class: `tl-alive${l.relaunched ? " relaunched" : ""}` }));
      if (x1 - x0 > 70) {
        back.push(svg("text", { x: x0 + 5, y: Y.appBar[1] - 3, class: "tl-bar-text" }, l.relaunched ? "alive · relaunched" : "alive"));
      }
      const next = lives[i + 1];
      if (next && next.start > end + 1500) closedGaps.push({ from: end, to: next.start, next });
    });
    for (const g of closedGaps) {
      const x0 = xOf(g.from);
      const x1 = xOf(g.to);
      back.push(svg("rect", { x: x0, y: Y.appBar[0], width: Math.max(1, x1 - x0), height: Y.appBar[1] - Y.appBar[0], class: "tl-closed" }));
      const text = x1 - x0 > 110 ? `closed ${formatDuration(g.to - g.from)}` : "closed";
      if (x1 - x0 > 44) back.push(svg("text", { x: (x0 + x1) / 2, y: Y.appBar[1] - 3, class: "tl-bar-text tl-closed-text", "text-anchor": "middle" }, text));
    }

    // Daemon lane.
    for (const s of this.daemonSpans(now)) {
      const x0 = xOf(s.from);
      const x1 = xOf(s.to);
      if (x1 - x0 < 0.5) continue;
      const h = s.state === "busy" || s.state === "unobserved" || s.state === "killed" ? Y.daemonBar[1] - Y.daemonBar[0] : 4;
      const y = s.state === "idle" || s.state === "unknown" ? (Y.daemonBar[0] + Y.daemonBar[1]) / 2 - 2 : Y.daemonBar[0];
      back.push(svg("rect", { x: x0, y, width: x1 - x0, height: h, class: `tl-d-${s.state}` }));
      if (x1 - x0 > 64 && (s.state === "busy" || s.state === "unobserved" || s.state === "killed")) {
        const label = s.state === "busy" ? "busy" : s.state === "killed" ? "killed" : "not observed";
        back.push(svg("text", { x: (x0 + x1) / 2, y: Y.daemonBar[1] - 3, class: `tl-bar-text tl-d-text-${s.state}`, "text-anchor": "middle" }, label));
      }
    }

    // Axis: clock labels where there is room, breaks as ⋯ duration ⋯.
    back.push(svg("line", { x1: PAD_L, x2: W - PAD_R + 8, y1: Y.axis, y2: Y.axis, class: "tl-axis" }));
    let lastLabel = -Infinity;
    let lastText = "";
    const label = (x, text, cls = "") => {
      if (text === lastText) return;
      lastText = text;
      back.push(svg("line", { x1: x, x2: x, y1: Y.axis - 3, y2: Y.axis + 3, class: "tl-axis" }));
      back.push(svg("text", { x, y: Y.label, class: `tl-time ${cls}`, "text-anchor": x < 40 ? "start" : "middle" }, text));
      lastLabel = x;
    };
    for (const q of pieces) {
      if (q.isBreak) {
        const cx = (q.x0 + q.x1) / 2;
        back.push(svg("path", { d: `M${cx - 6},${Y.appBar[0] - 6} l6,${(Y.daemonBar[1] - Y.appBar[0]) / 2 + 6} l-6,${(Y.daemonBar[1] - Y.appBar[0]) / 2 + 6}`, class: "tl-break" }));
        back.push(svg("text", { x: cx, y: Y.axis - 4, class: "tl-break-text", "text-anchor": "middle" }, `⋯ ${formatDuration(q.dt).replace(/ \d+ s$/, "")} ⋯`));
      } else if (q.x0 - lastLabel > 84 && q.x0 < W - PAD_R - 70) {
        label(q.x0, clock(q.from));
      }
    }
    const xNow = xOf(now);
    back.push(svg("line", { x1: xNow, x2: xNow, y1: 8, y2: Y.axis, class: "tl-now" }));
    back.push(svg("text", { x: xNow, y: Y.label, class: "tl-time tl-now-text", "text-anchor": "middle" }, "now"));
    this.layers.back.replaceChildren(...back);

    // Closed gaps are focusable too (they are part of the story).
    const items = [];
    for (const g of closedGaps) {
      const id = `gap-${g.next.id}`;
      items.push({
        id,
        x: (xOf(g.from) + xOf(g.to)) / 2,
        at: g.from,
        node: () => svg("rect", { x: xOf(g.from), y: Y.appBar[0] - 2, width: Math.max(8, xOf(g.to) - xOf(g.from)), height: Y.appBar[1] - Y.appBar[0] + 4, class: "tl-gap-hit" }),
        label: `Closed (inferred) from ${clock(g.from)} to ${clock(g.to)}, ${formatDuration(g.to - g.from)}. No page of the app was open; running downloads went on in the daemon, which queued their callbacks for the relaunch.`,
        tip: { title: "App closed (inferred)", time: `${clock(g.from)} – ${clock(g.to)} (${formatDuration(g.to - g.from)})`, text: "No page of the app was open. The page stored its lastSeen time every second; this gap runs from the last one to the next launch. Downloads that were running went on in the daemon, which queued their callbacks for the relaunch." },
      });
    }
    for (const m of this.marks) {
      if (m.at < this.startTime) continue;
      items.push({ id: m.id, x: xOf(m.at), at: m.at, mark: m });
    }
    this.drawMarks(items);

    if (this.stick) this.scroll.scrollLeft = this.scroll.scrollWidth;
    const more = $("tl-more");
    const wide = W > this.scroll.clientWidth + 2;
    if (more && more.hidden === wide) more.hidden = !wide;
    this.updateSummary(now, closedGaps);
  }

  drawMarks(items) {
    const seen = new Set();
    const focusables = [];
    for (const it of items) {
      seen.add(it.id);
      let g = this.nodes.get(it.id);
      const m = it.mark;
      const progress = m && m.kind === "didWriteData" && !m.restart;
      if (!g) {
        g = this.createMark(it);
        this.nodes.set(it.id, g);
        // Appended once (moving a node would blur it if it has focus).
        if (it.node) this.layers.marks.prepend(g);
        else this.layers.marks.append(g);
      }
      g.dataset.x = String(it.x);
      if (it.node) {
        g.replaceChildren(it.node());
        g.setAttribute("transform", "");
      } else {
        g.setAttribute("transform", `translate(${it.x.toFixed(1)},0)`);
      }
      if (!progress) focusables.push(g);
    }
    for (const [id, g] of this.nodes) {
      if (!seen.has(id)) {
        g.remove();
        this.nodes.delete(id);
      }
    }
    // Roving tabindex: one tab stop, arrow keys move between marks.
    focusables.sort((a, b) => Number(a.dataset.x) - Number(b.dataset.x));
    this.focusables = focusables;
    if (!focusables.some((g) => g.dataset.id === this.focusId)) this.focusId = focusables.at(-1)?.dataset.id ?? null;
    for (const g of focusables) g.setAttribute("tabindex", g.dataset.id === this.focusId ? "0" : "-1");
  }

  createMark(it) {
    const m = it.mark;
    let g;
    if (!m) {
      g = svg("g", { class: "mk mk-gap", role: "img", "aria-label": it.label });
      g.tipData = it.tip;
    } else {
      const t = tone(m);
      const daemon = m.lane === "daemon";
      const cy = daemon ? Y.daemonMark : Y.appMark;
      const barTop = daemon ? Y.daemonBar[0] : Y.appBar[0];
      const cls = `mk mk-${t}${m.replayed ? " mk-replayed" : ""}${daemon ? " mk-daemon" : ""}`;
      if (m.kind === "didWriteData" && !m.restart) {
        g = svg("g", { class: `${cls} mk-tick`, "aria-hidden": "true" }, svg("line", { x1: 0, x2: 0, y1: barTop - 9, y2: barTop, class: "mk-tick-line" }));
      } else if (m.kind === "daemon:busy" || m.kind === "daemon:idle") {
        g = svg("g", { class: cls }, svg("line", { x1: 0, x2: 0, y1: cy + 4, y2: barTop, class: "mk-stem" }), svg("circle", { cx: 0, cy: cy + 8, r: 3.5, class: "mk-shape" }));
      } else {
        const shape = m.kind === "daemon:killed"
          ? svg("path", { d: `M-6,${cy - 6} L6,${cy + 6} M6,${cy - 6} L-6,${cy + 6}`, class: "mk-shape mk-cross" })
          : m.kind === "daemon:started" || m.kind === "daemon:status"
            ? svg("path", { d: `M-6,${cy + 5} L0,${cy - 6} L6,${cy + 5} Z`, class: "mk-shape" })
            : t === "launch"
              ? svg("path", { d: `M0,${cy - 8} L7,${cy} L0,${cy + 8} L-7,${cy} Z`, class: "mk-shape" })
              : t === "action"
                ? svg("rect", { x: -5, y: cy - 5, width: 10, height: 10, rx: 2, class: "mk-shape" })
                : svg("circle", { cx: 0, cy, r: 6, class: "mk-shape" });
        g = svg("g", { class: cls },
          svg("line", { x1: 0, x2: 0, y1: cy + 7, y2: barTop, class: "mk-stem" }),
          m.replayed ? svg("circle", { cx: 0, cy, r: 8.5, class: "mk-ring" }) : null,
          shape,
          svg("rect", { x: -10, y: cy - 12, width: 20, height: barTop - cy + 14, class: "mk-hit" }),
        );
      }
      if (m.kind !== "didWriteData" || m.restart) {
        g.setAttribute("role", "img");
        g.setAttribute("aria-label", `${clock(m.at)}${m.replayed ? ", replayed" : ""}: ${titleOf(m)}${m.task ? ` (${m.task})` : ""}. ${m.text}`);
      }
    }
    g.dataset.id = it.id;
    g.addEventListener("mouseenter", () => {
      this.hoverAt = performance.now();
      this.showTip(g);
    });
    g.addEventListener("mouseleave", () => {
      this.hoverAt = 0;
      if (this.renderWanted) this.requestRender();
      if (document.activeElement !== g) this.hideTip();
    });
    g.addEventListener("focus", () => {
      this.focusId = g.dataset.id;
      for (const f of this.focusables || []) f.setAttribute("tabindex", f === g ? "0" : "-1");
      this.showTip(g);
    });
    g.addEventListener("blur", () => this.hideTip());
    g.addEventListener("click", () => g.focus());
    return g;
  }

  onKey(ev) {
    const list = this.focusables || [];
    if (!list.length) return;
    const i = Math.max(0, list.findIndex((g) => g.dataset.id === this.focusId));
    let j = i;
    if (ev.key === "ArrowRight" || ev.key === "ArrowDown") j = Math.min(list.length - 1, i + 1);
    else if (ev.key === "ArrowLeft" || ev.key === "ArrowUp") j = Math.max(0, i - 1);
    else if (ev.key === "Home") j = 0;
    else if (ev.key === "End") j = list.length - 1;
    else if (ev.key === "Escape") return this.hideTip();
    else return;
    ev.preventDefault();
    this.stick = j === list.length - 1;
    list[j].focus();
    const x = Number(list[j].dataset.x);
    if (x < this.scroll.scrollLeft + 20 || x > this.scroll.scrollLeft + this.scroll.clientWidth - 20) {
      this.scroll.scrollLeft = x - this.scroll.clientWidth / 2;
    }
  }

  showTip(g) {
    const m = this.marks.find((x) => x.id === g.dataset.id);
    const data = m
      ? {
          title: titleOf(m),
          time: `${clock(m.at)}${m.replayed ? " · replayed" : ""}${m.task ? ` · ${m.task}` : ""}`,
          text: [m.text, ...(m.notes || [])].join(" "),
          replayed: m.replayed,
        }
      : g.tipData;
    if (!data) return;
    this.tip.replaceChildren(
      el("strong", { class: "tl-tip-title", text: data.title }),
      el("span", { class: "tl-tip-time", text: data.time }),
      el("span", { class: "tl-tip-text", text: data.text }),
    );
    this.tip.classList.toggle("replayed", Boolean(data.replayed));
    this.tip.hidden = false;
    // Below the lanes (they stay readable), centred on the mark.
    const host = this.tip.offsetParent ? this.tip.offsetParent.getBoundingClientRect() : this.scroll.getBoundingClientRect();
    const r = g.getBoundingClientRect();
    const tipW = this.tip.offsetWidth;
    let left = r.left + r.width / 2 - host.left - tipW / 2;
    left = Math.max(4, Math.min(left, host.width - tipW - 4));
    this.tip.style.left = `${left}px`;
    this.tip.style.top = `${host.height - 4}px`;
  }

  hideTip() {
    this.tip.hidden = true;
  }

  updateSummary(now, gaps) {
    const callbacks = this.marks.filter((m) => m.lane === "app" && APPLE[m.kind]);
    const replayed = callbacks.filter((m) => m.replayed).length;
    const closedMs = gaps.reduce((s, g) => s + (g.to - g.from), 0);
    const text = `${callbacks.length} ${callbacks.length === 1 ? "callback" : "callbacks"} since ${clock(this.startTime)}`
      + (replayed ? `, ${replayed} of them replayed after a relaunch` : "")
      + (gaps.length ? `; the app was closed ${gaps.length} ${gaps.length === 1 ? "time" : "times"} (${formatDuration(closedMs)} in all)` : "")
      + ".";
    if (this.summary.textContent !== text) this.summary.textContent = text;
  }
}
