// No bundler: the worker is served from the installed package as it is.
export default "/node_modules/bgsession/bgsession-sw.js";
