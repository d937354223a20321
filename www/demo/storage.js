// The storage inspector: what a storage cleaner (Settings → General → iPhone
// Storage) shows about the app. Space per sandbox folder, the largest files,
// temp files left over, the origin's quota and whether its storage is
// persistent, and delete / clear actions.
import { $, el, formatBytes, describeError, showError } from "./util.js";

const FOLDERS = [
  { key: "tmp", url: "file:///tmp", label: "tmp", explain: "Temporary: a finished download waits here until the app moves it. iOS empties it when it needs space." },
  { key: "documents", url: "file:///Documents", label: "Documents", explain: "The user's data: kept, and backed up on iOS." },
  { key: "caches", url: "file:///Library/Caches", label: "Library/Caches", explain: "Re-downloadable data: iOS may purge it when space runs low." },
];

const folderOf = (url) => FOLDERS.find((f) => String(url).startsWith(`${f.url}/`));
const nameOf = (url) => {
  const f = folderOf(url);
  return decodeURIComponent(f ? String(url).slice(f.url.length + 1) : String(url));
};

export class StorageInspector {
  constructor(fm, { onChange = () => {} } = {}) {
    this.fm = fm;
    this.onChange = onChange;
    this.running = null;
    this.again = false;
    this.files = [];
    $("st-refresh").addEventListener("click", () => this.refresh());
    $("st-persist").addEventListener("click", () => this.requestPersist());
    $("st-clear-tmp").addEventListener("click", (ev) => this.clear(FOLDERS[0], ev.currentTarget));
    this.buildBars();
  }

  buildBars() {
    const box = $("st-usage");
    this.bars = {};
    for (const f of FOLDERS) {
      const fill = el("span", { class: `st-fill st-fill-${f.key}` });
      const value = el("span", { class: "st-value", text: "…" });
      const clear = f.key === "tmp" ? el("span", { class: "st-clear-none" }) : el("button", {
        type: "button",
        class: "small danger st-clear",
        text: `Clear ${f.label}`,
        "aria-label": `Clear ${f.label}: delete every file in ${f.url}`,
        onclick: (ev) => this.clear(f, ev.currentTarget),
      });
      const row = el("div", { class: "st-row", dataset: { folder: f.key } },
        el("span", { class: "st-label" }, el("code", { text: `/${f.label}` })),
        el("span", { class: "st-bar", "aria-hidden": "true" }, fill),
        value,
        clear,
        el("span", { class: "st-explain", text: f.explain }),
      );
      this.bars[f.key] = { row, fill, value, clear };
      box.append(row);
    }
  }

  // Serialised: a refresh asked for while one runs is done once afterwards.
  refresh() {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.render();
        } catch (e) {
          showError("Could not read the storage", e);
        }
      } while (this.again);
      this.running = null;
    })();
    return this.running;
  }

  async render() {
    const fm = this.fm();
    const [u, largest, tmp, persisted] = await Promise.all([
      fm.usage(),
      fm.largestFiles(10),
      fm.contentsOfDirectory("file:///tmp"),
      navigator.storage && navigator.storage.persisted ? navigator.storage.persisted().catch(() => null) : Promise.resolve(null),
    ]);

    // Bars, scaled to the biggest folder.
    const max = Math.max(1, u.tmp, u.documents, u.caches);
    for (const f of FOLDERS) {
      const b = this.bars[f.key];
      const bytes = u[f.key] || 0;
      b.fill.style.width = `${bytes ? Math.max(1.5, (bytes / max) * 100) : 0}%`;
      b.value.textContent = formatBytes(bytes);
      b.row.dataset.bytes = String(bytes);
      if (b.clear.tagName === "BUTTON") b.clear.disabled = bytes === 0;
    }
    const quota = u.quota > 0 ? u.quota : null;
    $("st-total").textContent = quota
      ? `Total ${formatBytes(u.total)} of about ${formatBytes(quota)} this site may use (${((u.total / quota) * 100).toFixed(u.total / quota < 0.001 ? 3 : 1)} %).`
      : `Total ${formatBytes(u.total)} (the browser did not say how much this site may use).`;
    const meter = $("st-quota");
    meter.max = quota || 1;
    meter.value = quota ? u.total : 0;
    $("st-total").dataset.bytes = String(u.total);

    // Persistence.
    this.showPersisted(persisted);

    // Largest files, with delete buttons.
    this.files = largest;
    const biggest = Math.max(1, ...largest.map((f) => f.size));
    $("st-largest").replaceChildren(
      ...largest.map((f) => {
        const name = nameOf(f.url);
        const folder = folderOf(f.url);
        const date = f.modificationDate ? new Date(f.modificationDate) : null;
        return el("li", { class: "st-file", dataset: { url: f.url, size: String(f.size) } },
          el("div", { class: "st-file-info" },
            el("span", { class: "st-file-name", text: name }),
            el("span", { class: "st-file-meta" },
              el("code", { class: "st-file-folder", text: folder ? `/${folder.label}` : "" }),
              el("span", { class: "st-file-size", text: formatBytes(f.size), title: `${Number(f.size).toLocaleString()} bytes` }),
              date ? el("time", { class: "st-file-date", datetime: date.toISOString(), text: date.toLocaleString() }) : null,
            ),
            el("span", { class: "st-bar st-file-bar", "aria-hidden": "true" }, el("span", { class: `st-fill st-fill-${folder ? folder.key : "documents"}`, style: `width:${Math.max(1.5, (f.size / biggest) * 100)}%` })),
          ),
          el("button", { type: "button", class: "small danger", "aria-label": `Delete ${name}`, text: "Delete", onclick: (ev) => this.remove(f.url, name, ev.currentTarget) }),
        );
      }),
    );
    $("st-largest-empty").hidden = largest.length > 0;

    // Leftover temp files.
    const leftovers = [];
    for (const url of tmp) {
      if (String(url).endsWith("/")) continue;
      let size = null;
      try {
        size = (await fm.attributesOfItem(url)).size;
      } catch {
        continue; // gone meanwhile
      }
      leftovers.push({ url, size });
    }
    $("st-tmp").replaceChildren(
      ...leftovers.map((f) => el("li", { dataset: { url: f.url, size: String(f.size) } },
        el("code", { class: "st-tmp-name", text: f.url }),
        el("span", { class: "st-file-size", text: formatBytes(f.size) }),
      )),
    );
    $("st-tmp-empty").hidden = leftovers.length > 0;
    $("st-clear-tmp").disabled = leftovers.length === 0;
    $("st-tmp-count").textContent = leftovers.length
      ? `${leftovers.length} leftover ${leftovers.length === 1 ? "file" : "files"}, ${formatBytes(leftovers.reduce((s, f) => s + f.size, 0))}`
      : "none";
    $("storage-panel").dataset.ready = "1";
    this.onChange({ usage: u, largest, leftovers });
  }

  showPersisted(persisted) {
    const out = $("st-persisted");
    const button = $("st-persist");
    if (persisted == null) {
      out.textContent = "This browser does not say whether the site's storage is persistent.";
      button.disabled = true;
      return;
    }
    out.dataset.persisted = String(persisted);
    out.textContent = persisted
      ? "Persistent: the browser will not evict this site's files to free space; only the user can delete them."
      : "Best effort: under storage pressure the browser may evict this site's data, much as iOS purges Caches and tmp.";
    button.disabled = persisted;
  }

  async requestPersist() {
    const out = $("st-persist-result");
    const button = $("st-persist");
    button.disabled = true;
    try {
      const granted = await navigator.storage.persist();
      out.dataset.granted = String(granted);
      out.textContent = granted
        ? "The browser granted persistent storage."
        : "The browser said no. Chromium decides on its own (for example for installed or bookmarked sites) and does not ask the user.";
      this.showPersisted(await navigator.storage.persisted());
    } catch (e) {
      out.textContent = `Could not ask: ${describeError(e)}`;
    } finally {
      if (out.dataset.granted !== "true") button.disabled = false;
    }
  }

  async remove(url, name, button) {
    button.disabled = true;
    const size = this.files.find((f) => f.url === url)?.size;
    try {
      await this.fm().removeItem(url);
      this.status(`Deleted ${name}${size != null ? ` (${formatBytes(size)})` : ""}.`);
    } catch (e) {
      showError(`Could not delete ${name}`, e);
    }
    await this.refresh();
  }

  async clear(folder, button) {
    button.disabled = true;
    try {
      await this.fm().removeItem(folder.url); // every file under it
      this.status(`Cleared ${folder.url}: every file in it was deleted.`);
    } catch (e) {
      showError(`Could not clear ${folder.url}`, e);
    }
    await this.refresh();
  }

  status(text) {
    $("st-status").textContent = text;
  }
}
