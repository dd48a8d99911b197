// docs/architecture.md and biome.json say the same thing: every folder of src/ is named in the manual, and
// the lint forbids exactly the imports that the manual's "who may import whom" table forbids. Probed with
// real Biome on one import per (folder, target) pair, in a scratch copy, so nothing is written into src/.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const doc = readFileSync(path.join(repo, 'docs', 'architecture.md'), 'utf8');
const biome = path.join(repo, 'node_modules', '.bin', 'biome');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'batchcast-architecture-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The folders of src/, top level and nested ("serve/http"). */
function folders(dir = path.join(repo, 'src'), prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => [`${prefix}${e.name}`, ...folders(path.join(dir, e.name), `${prefix}${e.name}/`)]);
}

/** The rows of the table under "## Who may import whom": folder -> the folders it may also import. */
function importTable(): Map<string, string[] | 'all'> {
  const section = doc.split('## Who may import whom')[1].split('\n## ')[0];
  const rows = new Map<string, string[] | 'all'>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const folder = /^`(\w+)\/`$/.exec(cells[1] ?? '')?.[1];
    if (!folder) continue;
    rows.set(folder, cells[2] === 'every folder' ? 'all' : [...cells[2].matchAll(/`(\w+)\/`/g)].map((m) => m[1]));
  }
  return rows;
}

describe('docs/architecture.md', () => {
  it('names every folder of src/', () => {
    const missing = folders().filter((f) => !doc.includes(`\`${path.basename(f)}/\``));
    expect(missing).toEqual([]);
  });

  it('has a row in the import table for every top-level folder of src/ but config/', () => {
    const top = folders().filter((f) => !f.includes('/') && f !== 'config');
    expect([...importTable().keys()].sort()).toEqual(top.sort());
  });
});

describe('biome.json', () => {
  it('forbids exactly the imports the table forbids, for static and dynamic imports, at every depth', () => {
    const table = importTable();
    const rooms = [...table.keys()];
    copyFileSync(path.join(repo, 'biome.json'), path.join(scratch, 'biome.json'));
    const expected: string[] = [];
    const probe = (dir: string, name: string, spec: string, forbidden: boolean, dynamic = false) => {
      mkdirSync(path.join(scratch, dir), { recursive: true });
      const file = `${dir}/${name}.ts`;
      writeFileSync(
        path.join(scratch, file),
        dynamic ? `export const m = () => import('${spec}');\n` : `import { x } from '${spec}';\nexport const y = x;\n`,
      );
      if (forbidden) expected.push(file);
    };
    for (const [room, allowed] of table) {
      for (const target of rooms) {
        const forbidden = allowed !== 'all' && target !== room && !allowed.includes(target);
        probe(`src/${room}`, `to_${target}`, `../${target}/x.ts`, forbidden);
        probe(`src/${room}/deeper`, `to_${target}`, `../../${target}/x.ts`, forbidden, true);
      }
      probe(`src/${room}`, 'to_root', '../errors.ts', false);
      probe(`src/${room}`, 'to_config', '../config/load-config.ts', false);
    }
    for (const target of rooms) {
      probe('src', `root_to_${target}`, `./${target}/x.ts`, true);
      probe('src/config', `to_${target}`, `../${target}/x.ts`, true);
    }
    probe('test', 'to_cli', '../src/cli/main.ts', false);
    const r = spawnSync(biome, ['lint', '--vcs-enabled=false', '--max-diagnostics=none', 'src', 'test'], {
      cwd: scratch,
      encoding: 'utf8',
    });
    const flagged = [
      ...new Set([...`${r.stdout}${r.stderr}`.matchAll(/^(\S+\.ts):\d+:\d+ lint\/style\/noRestrictedImports/gm)].map((m) => m[1])),
    ];
    expect(flagged.sort()).toEqual(expected.sort());
    expect(expected.length).toBeGreaterThan(100); // the probe really covers the table
  });
});
