// The worker is emitted as an ES module (it is registered with
// { type: "module" }) at the site's root, so its default scope is the whole
// site; the library's wasm and everything else go to assets/ with hashed names.
export default {
  worker: {
    format: "es",
    rollupOptions: { output: { entryFileNames: "[name]-[hash].js" } },
  },
};
