// A node --test reporter (scripts/test.sh runs it beside TAP): after
// everything else, each failed test (todo ones left out) again, with its
// error, so that the end of a long log says what failed and why.
export default async function* failures(source) {
  const failed = [];
  for await (const event of source) {
    if (event.type === "test:fail" && !event.data.todo && !event.data.skip) failed.push(event.data);
  }
  if (!failed.length) return;
  yield `\n# failed: ${failed.length}\n`;
  for (const t of failed) {
    const err = t.details?.error;
    const msg = String(err?.cause?.message ?? err?.message ?? err).split("\n").slice(0, 12).join("\n#     ");
    yield `#   ✖ ${t.name} (${t.file ?? "?"}:${t.line ?? "?"})\n#     ${msg}\n`;
  }
}
