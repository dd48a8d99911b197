// The roads not taken for Parquet and CSV, measured by bench/experiments/export-bench.ts (--alternatives) against the
// DuckDB path that `batchcast export` uses. Not used by batchcast itself.
//   csv-js        CSV (one row per user and rank) formatted in JavaScript straight from the chunks, no DuckDB
//   parquet-wasm  Parquet from apache-arrow record batches through parquet-wasm's streaming writer (zstd);
//                 parquet-wasm is not a dependency: install it anywhere and set PARQUET_WASM=<its node/ entry>
//   node --import tsx bench/experiments/export-alternatives.ts <name> <job> <date> <out>
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { Writable } from 'node:stream';
import { Table, tableToIPC } from 'apache-arrow';
import { loadConfig } from '../../src/config/load-config.ts';
import { createPool } from '../../src/db/connect.ts';
import { withGeneration } from '../../src/export/export-generation.ts';
import { drained, exportSchema, recordBatch } from '../../src/export/write-arrow.ts';

const [name, job, date, out] = process.argv.slice(2);
const url = process.env.DATABASE_URL!;
const pool = createPool(url, loadConfig({ databaseUrl: url }, {}), { max: 1 });

const csvField = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

try {
  await withGeneration(pool, { job, date }, async (g, rows) => {
    const file = createWriteStream(out);
    if (name === 'csv-js') {
      file.write('user_id,rank,item_id,score\n');
      for await (const c of rows()) {
        let text = '';
        for (let i = 0; i < c.userIds.length; i++) {
          const u = csvField(c.userIds[i]);
          const items = c.itemIds[i];
          for (let r = 0; r < items.length; r++) text += `${u},${r + 1},${csvField(items[r])},${c.scores[i][r]}\n`;
        }
        file.write(text);
        await drained(file);
      }
    } else if (name === 'parquet-wasm') {
      const pw = await import(process.env.PARQUET_WASM!);
      const schema = exportSchema(g);
      const chunks = rows();
      // Each chunk crosses into WebAssembly as one IPC message (parquet-wasm reads Arrow IPC, not JS objects).
      const batches = new ReadableStream({
        async pull(controller) {
          const next = await chunks.next();
          if (next.done) return controller.close();
          controller.enqueue(
            pw.Table.fromIPCStream(tableToIPC(new Table(schema, [recordBatch(schema, next.value)]), 'stream')).recordBatches()[0],
          );
        },
      });
      const props = new pw.WriterPropertiesBuilder().setCompression(pw.Compression.ZSTD).build();
      await (await pw.transformParquetStream(batches, props)).pipeTo(Writable.toWeb(file));
      return;
    } else {
      throw new Error(`unknown alternative ${name}`);
    }
    file.end();
    await once(file, 'close');
  });
} finally {
  await pool.end();
}
