/** Tables, for the terminal (aligned columns) and for Markdown. */

/** Aligned columns: text left, figures (cells starting with a digit or '-') right. */
export function textTable(headers, rows) {
  const all = [headers, ...rows].map((r) => r.map((c) => String(c ?? '')));
  const widths = headers.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const numeric = headers.map((_, i) => rows.every((r) => /^[-\d.]/.test(String(r[i] ?? '-'))));
  const line = (r) =>
    r
      .map((c, i) => (numeric[i] && i > 0 ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(all[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(line)].join('\n');
}

const md = (c) =>
  String(c ?? '')
    .replaceAll('|', '\\|')
    .replaceAll('\n', ' ');

export function markdownTable(headers, rows) {
  return [
    `| ${headers.map(md).join(' | ')} |`,
    `| ${headers.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(md).join(' | ')} |`),
  ].join('\n');
}
