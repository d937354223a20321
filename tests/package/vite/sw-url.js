// Vite: `?worker&url` bundles the package's worker entry (`bgsession/sw`,
// with its own import of the library and the wasm asset) as a file of its
// own with a hashed name, and gives its URL.
import swURL from "bgsession/sw?worker&url";
export default swURL;
