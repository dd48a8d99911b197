// deploy/systemd: the timer and services verified by systemd itself (systemd-analyze verify: unknown keys,
// bad values, an ExecStart that is not executable), with the install paths pointed at this machine; the
// timer's calendar fires at 02:00 UTC; the command lines are real batchcast options. Without systemd-analyze
// (macOS, containers without systemd) only the parse check runs.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repo, runCli } from './run-cli.ts';

const dir = path.join(repo, 'deploy', 'systemd');
const units = readdirSync(dir).filter((f) => /\.(service|timer)$/.test(f));
const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;

/** Sections and keys of a unit file, as systemd reads them (comments and blank lines aside). */
function parseUnit(text: string): Map<string, [string, string][]> {
  const sections = new Map<string, [string, string][]>();
  let current: [string, string][] | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim() || /^[#;]/.test(line)) continue;
    const section = /^\[(\w+)\]$/.exec(line);
    if (section) sections.set(section[1], (current = []));
    else {
      const kv = /^(\w+)=(.*)$/.exec(line);
      if (!kv || !current) throw new Error(`not a unit line: ${line}`);
      current.push([kv[1], kv[2]]);
    }
  }
  return sections;
}

describe('deploy/systemd', () => {
  it('has a timer, the service it starts, and serve', () => {
    expect(units.sort()).toEqual(['batchcast-schedule.service', 'batchcast-schedule.timer', 'batchcast-serve.service']);
    const timer = parseUnit(readFileSync(path.join(dir, 'batchcast-schedule.timer'), 'utf8'));
    expect(timer.get('Timer')).toContainEqual(['Unit', 'batchcast-schedule.service']);
    expect(timer.get('Timer')).toContainEqual(['Persistent', 'true']);
    const service = parseUnit(readFileSync(path.join(dir, 'batchcast-schedule.service'), 'utf8'));
    expect(service.get('Service')).toContainEqual(['Type', 'oneshot']);
    expect(service.get('Service')).toContainEqual(['SuccessExitStatus', '3']);
  });

  it('runs real batchcast commands with options they have', async () => {
    for (const unit of units.filter((u) => u.endsWith('.service'))) {
      const exec = parseUnit(readFileSync(path.join(dir, unit), 'utf8'))
        .get('Service')!
        .find(([k]) => k === 'ExecStart')![1];
      const [, , command, ...args] = exec.split(/\s+/); // node bin/batchcast.js <command> <args>
      const help = await runCli([command, '--help'], {});
      expect(help.code, `${unit}: ${exec}\n${help.stderr}`).toBe(0);
      for (const flag of args.filter((a) => a.startsWith('--'))) expect(help.stdout, `${unit}: ${flag}`).toContain(`${flag} `);
    }
  });

  it.skipIf(!analyze)('systemd-analyze verify finds no problem, and the timer fires at 02:00 and 03:00 UTC', () => {
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'batchcast-systemd-'));
    for (const unit of units) {
      // this machine's node and a root that exists, as an install would have them
      const text = readFileSync(path.join(dir, unit), 'utf8')
        .replaceAll('/usr/bin/node', process.execPath)
        .replaceAll('/srv/batchcast', repo);
      writeFileSync(path.join(scratch, unit), text);
    }
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...units.map((u) => path.join(scratch, u))], { encoding: 'utf8' });
    expect({ status: r.status, stderr: r.stderr.trim() }).toEqual({ status: 0, stderr: '' });
    const cal = spawnSync('systemd-analyze', ['calendar', '--iterations=2', '*-*-* 02:00:00 UTC', '*-*-* 03:00:00 UTC'], {
      encoding: 'utf8',
    });
    expect(cal.status, cal.stderr).toBe(0);
    expect(cal.stdout).toMatch(/Normalized form: \*-\*-\* 02:00:00 UTC/);
    expect(cal.stdout).toMatch(/Normalized form: \*-\*-\* 03:00:00 UTC/);
  });
});
