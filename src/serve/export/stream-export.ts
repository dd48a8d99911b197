// GET /v1/jobs/{job}/dates/{date}/export.arrow: a whole generation as one Arrow IPC stream, for data
// consumers and apps that want every user at once. The same code as `batchcast export --format arrow`.
// One export at a time per server: an export holds one of the lookup pool's connections while it streams.
import type http from 'node:http';
import type pg from 'pg';
import { parseDate } from '../../dates.ts';
import { BadInputError, describeError } from '../../errors.ts';
import { withGeneration } from '../../export/export-generation.ts';
import { writeArrow } from '../../export/write-arrow.ts';
import type { Logger } from '../../log.ts';
import { badRequest, failure, json, notFound, RETRY_AFTER_SECONDS, type Reply } from '../http/replies.ts';
import type { JobCatalogue } from '../job-catalogue.ts';

export interface ExportDeps {
  pool: pg.Pool;
  catalogue: JobCatalogue;
  /** config serve.exports */
  enabled: boolean;
  /** config serve.exportIdleTimeoutMs: no byte taken by the client for this long cuts the export */
  idleTimeoutMs: number;
  log: Logger;
  /** exports streaming now (at most one) */
  running: { count: number };
}

/** Answers with a Reply when it refuses; null when it streamed the answer itself. */
export async function streamExport(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  at: { jobRaw: string; dateRaw: string },
  requestId: string,
  deps: ExportDeps,
): Promise<Reply | null> {
  const close = { connection: 'close' };
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return json(
      405,
      { error: 'method_not_allowed', message: `${(req.method ?? '').slice(0, 16)} is not allowed; use GET` },
      { allow: 'GET, HEAD', ...close },
    );
  if ((req.headers['content-length'] ?? '0') !== '0' || req.headers['transfer-encoding'] !== undefined) {
    return json(413, { error: 'body_not_allowed', message: 'this endpoint takes no request body' }, close);
  }
  if (!deps.enabled) {
    return json(403, {
      error: 'exports_disabled',
      message:
        'bulk export is turned off on this server (config serve.exports = false); use `batchcast export` against the database, or ask the operator',
    });
  }
  let job: string;
  try {
    job = decodeURIComponent(at.jobRaw);
  } catch {
    return badRequest('job', 'job is not valid percent-encoded UTF-8');
  }
  if (!deps.catalogue.get(job)) {
    return badRequest('job', `job ${JSON.stringify(job.slice(0, 64))} is not a job this server knows`); // never a list of jobs
  }
  const date = at.dateRaw;
  try {
    parseDate(date);
  } catch (err) {
    return badRequest('date', (err as Error).message.replace(/"[^"]{65,}"/, '"..."'));
  }
  if (deps.running.count > 0) {
    return json(
      503,
      { error: 'export_busy', message: `another export is streaming from this server; retry in ${RETRY_AFTER_SECONDS} s` },
      { 'retry-after': String(RETRY_AFTER_SECONDS) },
    );
  }
  deps.running.count++;
  try {
    return await withGeneration(deps.pool, { job, date }, async (g, rows) => {
      // The socket's idle timer restarts with every write the kernel takes; a client that stops reading lets
      // the buffers fill, our writes wait for 'drain', and the timer fires. Destroying the response rejects
      // that wait, so the cursor's transaction rolls back and the connection and the slot are released.
      res.setTimeout(deps.idleTimeoutMs, () => {
        deps.log.warn(
          `export of job ${job}, ${date}: the client took nothing for ${deps.idleTimeoutMs} ms (serve.exportIdleTimeoutMs); cutting it`,
          { requestId },
        );
        res.destroy();
      });
      res.writeHead(200, {
        'content-type': 'application/vnd.apache.arrow.stream',
        'content-disposition': `attachment; filename="${g.job}-${g.date}-run${g.runId}.arrows"`,
        'x-request-id': requestId,
        'x-batchcast-run-id': String(g.runId),
        'cache-control': 'no-cache',
      });
      if (req.method !== 'HEAD') await writeArrow(g, rows(), res); // HEAD: the headers only
      res.end();
      return null;
    });
  } catch (err) {
    if (res.headersSent) {
      // Mid-stream: the only honest signal left is to cut the stream (the reader sees no end-of-stream marker).
      deps.log.warn(`export of job ${job}, ${date} stopped mid-stream: ${describeError(err)}`, { requestId });
      res.destroy();
      return null;
    }
    if (err instanceof BadInputError) return notFound('generation_not_found', err.message, { job, prediction_date: date });
    return failure(err, requestId);
  } finally {
    deps.running.count--;
  }
}
