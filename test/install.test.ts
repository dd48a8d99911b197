// What `npm ci` leaves and how the command starts, as the README types it: onnxruntime-node's CUDA download
// never ran, `npx batchcast` and `bin/batchcast` print nothing but the help (npm 11 used to warn twice about
// the .npmrc key that skipped the download for npm 10), and npm 10 refuses to install at all, naming the
// npm version it needs, instead of running that download. The whole install with each npm, end to end:
// scripts/check-install.sh (docs/development.md).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repo } from './run-cli.ts';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'batchcast-install-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the install', () => {
  it('left out the CUDA libraries onnxruntime-node would download', () => {
    const dir = path.join(repo, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', process.platform, process.arch);
    expect(existsSync(dir), dir).toBe(true);
    expect(readdirSync(dir).filter((f) => f.includes('providers_cuda'))).toEqual([]);
  });

  it.each([
    ['npx batchcast', 'npx', ['batchcast', '--help']],
    ['bin/batchcast', path.join(repo, 'bin', 'batchcast'), ['--help']],
  ])('%s --help prints the help on stdout and nothing on stderr', (_name, command, args) => {
    const r = spawnSync(command, args, { cwd: repo, encoding: 'utf8', env: { ...process.env, NO_UPDATE_NOTIFIER: '1' } });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe('Usage: batchcast [options] [command]');
    expect(r.stderr).toBe('');
  });

  it('npm 10, which Node 20 ships, refuses with EBADENGINE before installing anything', () => {
    const npm10 = path.join(scratch, 'npm10');
    execFileSync('npm', ['install', '--prefix', npm10, '--no-audit', '--no-fund', '--no-save', 'npm@10.8.2'], {
      cwd: scratch,
      stdio: 'ignore',
    });
    const project = path.join(scratch, 'project');
    mkdirSync(project);
    for (const f of ['package.json', 'package-lock.json', '.npmrc']) copyFileSync(path.join(repo, f), path.join(project, f));
    const r = spawnSync(process.execPath, [path.join(npm10, 'node_modules', 'npm', 'bin', 'npm-cli.js'), 'ci', '--no-audit', '--no-fund'], {
      cwd: project,
      encoding: 'utf8',
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('EBADENGINE');
    expect(r.stderr).toMatch(/npm.*>=11\.16\.0/);
    expect(existsSync(path.join(project, 'node_modules'))).toBe(false);
  }, 120_000);
});
