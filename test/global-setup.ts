// One PostgreSQL for the whole test run: DATABASE_URL when set, else an embedded server in a temp dir.
// Each test file then creates its own database on it (helpers.ts), so files never see each other's rows.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { type EmbeddedServer, freePort, startEmbedded } from '../src/db/embedded.ts';

let server: EmbeddedServer | undefined;
let dir: string | undefined;

export async function setup(project: TestProject) {
  // Tests that spawn bin/batchcast.js run the compiled dist/, like users do: build it from the current
  // sources first (incremental: about a second when nothing changed).
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  let url = process.env.DATABASE_URL;
  if (!url) {
    dir = mkdtempSync(path.join(os.tmpdir(), 'batchcast-test-pg-'));
    chmodSync(dir, 0o755); // the postgres user must be able to reach its data directory inside
    server = await startEmbedded(
      { dataDir: path.join(dir, 'pg'), port: await freePort(), user: 'postgres', password: 'test', startTimeoutMs: 90_000 },
      () => {},
    );
    url = server.url;
  }
  project.provide('adminUrl', url);
}

export async function teardown() {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
  }
}
