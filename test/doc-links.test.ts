// The manual's relative links (README.md and docs/*.md) point at files and headings that exist: the
// manual was split out of the README, and pages and headings get renamed.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';
import { repo } from './run-cli.ts';

it('every relative link of README.md and docs/ reaches its file and heading', () => {
  const r = spawnSync(process.execPath, [path.join(repo, 'scripts', 'check-doc-links.mjs')], { encoding: 'utf8' });
  expect(r.stdout + r.stderr).toMatch(/ 0 broken/);
  expect(r.status).toBe(0);
});
