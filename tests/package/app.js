// The sample app of tests/package (the same for every way of building it):
// a page written as a package user writes it, importing `bgsession` by its
// package name. It records every delegate call in window.log and moves each
// finished download to /Documents/<taskDescription>. `swURL` comes from
// ./sw-url.js, which differs per build: a bundler's URL of the emitted
// worker (`bgsession/sw`), or the worker's path in node_modules.
import init, { UIApplication, URLSessionConfiguration, URLSession, FileManager } from "bgsession";
import swURL from "./sw-url.js";

await init();
window.swURL = swURL;
const log = (window.log = []);
const completionHandlers = {};
const sessions = {};

const delegate = {
  didWriteData(session, task, written, total, expected) {
    log.push(["didWriteData", task.taskIdentifier, written, total, expected]);
  },
  async didFinishDownloadingTo(session, task, location) {
    log.push(["didFinishDownloadingTo", task.taskIdentifier, location, task.response && task.response.statusCode]);
    await FileManager.default.moveItem(location, `file:///Documents/${task.taskDescription}`);
  },
  didCompleteWithError(session, task, error) {
    log.push(["didCompleteWithError", task.taskIdentifier, error ? error.code : null, task.state]);
  },
  urlSessionDidFinishEvents(session) {
    const id = session.configuration.identifier;
    log.push(["urlSessionDidFinishEvents", id]);
    if (completionHandlers[id]) completionHandlers[id]();
  },
};

window.openSession = (identifier) => {
  if (!sessions[identifier]) {
    const config = URLSessionConfiguration.background(identifier);
    config.serviceWorkerURL = swURL;
    sessions[identifier] = new URLSession(config, delegate);
  }
  return sessions[identifier];
};

window.sha256Of = async (location) => {
  const blob = await FileManager.default.contents(location);
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return { size: blob.size, sha256: [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("") };
};

UIApplication.shared.delegate = {
  handleEventsForBackgroundURLSession(identifier, completionHandler) {
    log.push(["handleEventsForBackgroundURLSession", identifier]);
    completionHandlers[identifier] = completionHandler;
    window.openSession(identifier);
  },
};
window.launchedIds = await UIApplication.shared.launched;
document.getElementById("status").textContent = "ready";
window.appReady = true;
