// The CLI as a child process, as cron and people run it: bin/batchcast.js (the compiled dist/).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const bin = path.join(repo, 'bin', 'batchcast.js');

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `batchcast ...args` with the given environment (DATABASE_URL only when given). */
export function runCli(args: string[], env: Record<string, string | undefined>, timeoutMs = 120_000): Promise<Ran> {
  return new Promise((resolve) => {
    const clean = { ...process.env };
    delete clean.DATABASE_URL;
    execFile(process.execPath, [bin, ...args], { env: { ...clean, ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
