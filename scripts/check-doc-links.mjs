#!/usr/bin/env node
// Lists broken relative links in README.md and docs/*.md: a target file that does not exist, or an anchor
// that names no heading of its file (GitHub's slugs: lower case, punctuation dropped, spaces to hyphens,
// -1, -2 ... for repeated headings). Links to http(s) and mailto are not checked. Exit 1 when any is broken.
//   node scripts/check-doc-links.mjs [--pending docs/a.md,docs/b.md]
// --pending names pages someone is still writing: links to them are listed apart and do not fail the check.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const pendingArg = process.argv.indexOf('--pending');
const pending = new Set(pendingArg > 0 ? process.argv[pendingArg + 1].split(',').map((p) => path.resolve(root, p)) : []);

const files = [
  path.join(root, 'README.md'),
  ...readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => path.join(root, 'docs', f)),
];

/** Lines outside fenced code blocks, with their numbers. */
function prose(text) {
  const out = [];
  let fence = null;
  text.split('\n').forEach((line, i) => {
    const m = line.match(/^\s*(```+|~~~+)/);
    if (m) {
      if (!fence) fence = m[1][0];
      else if (m[1][0] === fence) fence = null;
      return;
    }
    if (!fence) out.push({ line, n: i + 1 });
  });
  return out;
}

function slug(heading) {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1') // a link in a heading keeps its text
    .replace(/`/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

const anchorCache = new Map();
function anchors(file) {
  if (!anchorCache.has(file)) {
    const seen = new Map();
    const set = new Set();
    for (const { line } of prose(readFileSync(file, 'utf8'))) {
      const m = line.match(/^#{1,6}\s+(.*?)\s*#*\s*$/);
      if (!m) continue;
      const base = slug(m[1]);
      const k = seen.get(base) ?? 0;
      set.add(k === 0 ? base : `${base}-${k}`);
      seen.set(base, k + 1);
    }
    anchorCache.set(file, set);
  }
  return anchorCache.get(file);
}

const broken = [];
const waiting = [];
let checked = 0;
for (const file of files) {
  for (const { line, n } of prose(readFileSync(file, 'utf8'))) {
    const text = line.replace(/`[^`]*`/g, ''); // inline code is not a link
    for (const m of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1];
      if (/^(https?:|mailto:)/.test(target)) continue;
      checked++;
      const [p, anchor] = target.split('#');
      const dest = p === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(p));
      const where = `${path.relative(root, file)}:${n}: ${target}`;
      if (pending.has(dest)) {
        waiting.push(where);
        continue;
      }
      if (!existsSync(dest)) {
        broken.push(`${where} (no such file)`);
        continue;
      }
      if (anchor !== undefined && statSync(dest).isFile() && dest.endsWith('.md') && !anchors(dest).has(anchor)) {
        broken.push(`${where} (no heading #${anchor} in ${path.relative(root, dest)})`);
      }
    }
  }
}

for (const b of broken) console.log(`broken: ${b}`);
for (const w of waiting) console.log(`pending: ${w}`);
console.log(`${checked} relative links in ${files.length} files: ${broken.length} broken, ${waiting.length} to pages still being written`);
process.exit(broken.length ? 1 : 0);
