// The CLI as cron and people use it: bin/batchcast.js in a child process, without the parent's DATABASE_URL.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const bin = path.join(repo, 'bin', 'batchcast.js');

export interface Ran { code: number; stdout: string; stderr: string }

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
