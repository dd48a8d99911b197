// `batchcast init`: a job file scaffolded from the user's own export, model and items file. It decides
// only what the inputs prove (choose-job.ts); what they cannot say, it asks for with a flag, because a
// guessed feature order would publish wrong recommendations without any error.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadInputError } from '../errors.ts';
import { checkExamples, indistinctNote, TOLERANCE_TEXT } from '../infer/check-examples.ts';
import { namesFromMetadata } from '../infer/feature-order.ts';
import { formatTensor, inspectModel, type TensorInfo } from '../infer/inspect-model.ts';
import { JOB_NAME } from '../jobs/job-schema.ts';
import { type JobDefinition, parseJob } from '../jobs/load-job.ts';
import { withDuckDB } from '../read/duckdb.ts';
import { inspectFeatureFiles, inspectItemsFile } from '../read/inspect-files.ts';
import { bindOrder, EXAMPLES_SOURCE, numberColumns, readCard, readExamples } from './bind-order.ts';
import { cardBeside, chooseFeatures, chooseInput, chooseItems, chooseOutput, inputsPerColumn } from './choose-job.ts';
import { generaliseFeaturesPath } from './generalise-glob.ts';

export interface InitOptions {
  name: string;
  /** Parquet glob, relative to root or absolute */
  features: string;
  model: string;
  items: string;
  /** project root (jobs/ and relative paths) and the jobs directory */
  root: string;
  jobsDir: string;
  columns?: string[];
  userIdColumn?: string;
  input?: string;
  /** one name (scores over all items) or two (top-K values, indices) */
  output?: string[];
  itemIdColumn?: string;
  itemIndexColumn?: string;
  k?: number;
  force?: boolean;
  /** JSON file of examples (model.examples): rows of inputs with the outputs the training code computed */
  examples?: string;
}

export interface InitResult {
  file: string;
  job: JobDefinition;
  /** what was found and decided, one line each, for the person reading */
  notes: string[];
  /** the newest date of the export: the one to try first */
  latestDate: string;
}

const schemaFile = fileURLToPath(new URL('../../schema/job.schema.json', import.meta.url));

export async function initJob(o: InitOptions): Promise<InitResult> {
  if (!JOB_NAME.test(o.name))
    throw new BadInputError(
      `--name ${JSON.stringify(o.name)} is not a valid job name: use lower-case letters, digits, - and _, starting with a letter`,
    );
  const file = path.join(o.jobsDir, `${o.name}.json`);
  if (existsSync(file) && !o.force) throw new BadInputError(`${file} already exists; pass --force to replace it, or choose another --name`);
  const abs = (p: string) => path.resolve(o.root, p);
  const rel = (p: string) => {
    const r = path.relative(o.root, abs(p));
    return r.startsWith('..') || path.isAbsolute(r) ? abs(p) : r;
  };
  for (const [flag, p] of [
    ['--model', o.model],
    ['--items', o.items],
  ] as const) {
    if (!existsSync(abs(p))) throw new BadInputError(`${flag} ${p}: file not found (relative paths are read from ${o.root})`);
  }

  const notes: string[] = [];
  const glob = generaliseFeaturesPath(o.features);
  if (glob.note) notes.push(glob.note);
  const { features, items } = await withDuckDB({}, async (conn) => ({
    features: await inspectFeatureFiles(conn, abs(glob.pattern)),
    items: await inspectItemsFile(conn, abs(o.items)),
  }));
  const layout = features.pathTemplate
    ? `dates in the path ${rel(features.pathTemplate)}`
    : `partition column "${features.partitionColumn}"${features.partitionFormat === 'YYYY-MM-DD' ? '' : ` (dates written ${features.partitionFormat})`}`;
  notes.push(
    `features: ${features.files} file(s), ${layout}, ${features.dates.length} date(s) ${features.dates[0]} .. ${features.latest}; ${features.rows} rows on ${features.latest}`,
  );
  notes.push(`  columns: ${features.columns.map((c) => `${c.name} ${c.type}`).join(', ')}`);

  let model = await inspectModel(abs(o.model));
  const examples = o.examples === undefined ? undefined : readExamples(abs(o.examples), o.examples);
  const cardFile = cardBeside(abs(o.model));
  const card = existsSync(cardFile) ? readCard(cardFile) : undefined;
  const perColumn = o.input === undefined ? inputsPerColumn(model, features) : undefined;
  const input = perColumn ? { name: '', type: 'float32', shape: ['batch', perColumn.length] } : chooseInput(model, o.input);
  const order =
    perColumn || o.columns ? undefined : await bindOrder({ features, model, input, card, cardFile: rel(cardFile), examples, o });
  const chosen = perColumn
    ? chooseFeatures(features, model, input, { columns: perColumn, userIdColumn: o.userIdColumn, perInput: true })
    : chooseFeatures(features, model, input, {
        columns: o.columns,
        userIdColumn: o.userIdColumn,
        order,
        examplesTried: !order && !!examples && !card?.feature_order && !namesFromMetadata(model.metadata),
      });
  if (!model.probed) model = await inspectModel(abs(o.model), { inputWidth: chosen.width });
  // Output sizes the model leaves symbolic come from the probe run; the batch dimension keeps its name.
  const shapeOf = (t: TensorInfo) => t.shape.map((d, i) => (typeof d === 'string' && i > 0 ? (model.probed?.[t.name]?.[i] ?? d) : d));
  notes.push(
    `model: input ${model.inputs.map(formatTensor).join(', ')}; outputs ${model.outputs.map((t) => formatTensor({ ...t, shape: shapeOf(t) })).join(', ')}`,
  );
  notes.push(...chosen.notes);
  const output = chooseOutput(model, o.output, items.rows);
  notes.push(output.note);
  const chosenItems = chooseItems(items, output, { idColumn: o.itemIdColumn, indexColumn: o.itemIndexColumn });
  notes.push(...chosenItems.notes);

  const maxK = (output.kind === 'top_k' ? output.width : items.rows) ?? 1000;
  const k = o.k ?? Math.min(output.kind === 'top_k' ? maxK : 10, maxK, 1000);
  if (k > maxK) {
    throw new BadInputError(
      `--k ${k} is more than the ${maxK} ${output.kind === 'top_k' ? `items the model's output "${output.values}" returns per user` : 'items'}; use --k ${maxK} or less`,
    );
  }

  const job = {
    $schema: path.relative(o.jobsDir, schemaFile).split(path.sep).join('/'),
    description: `Scaffolded by batchcast init from ${rel(o.model)}`,
    features: {
      path: rel(features.pathTemplate ?? glob.pattern),
      ...(features.pathTemplate ? {} : { partition_column: features.partitionColumn }),
      ...(features.partitionFormat === 'YYYY-MM-DD' ? {} : { partition_format: features.partitionFormat }),
      user_id_column: chosen.userIdColumn,
      ...(chosen.listColumn ? { list_column: chosen.listColumn, list_size: chosen.width } : { columns: chosen.columns }),
      ...(chosen.ignored.length ? { allow_extra_columns: true } : {}),
    },
    model: {
      path: rel(o.model),
      ...(perColumn ? { inputs: Object.fromEntries(perColumn.map((c) => [c, [c]])) } : { input: input.name }),
      output:
        output.kind === 'scores'
          ? { kind: 'scores', name: output.name }
          : { kind: 'top_k', values: output.values, indices: output.indices },
      ...(card ? { card: rel(cardFile) } : {}),
      ...(examples ? { examples } : {}),
    },
    items: {
      path: rel(o.items),
      id_column: chosenItems.idColumn,
      ...(chosenItems.indexColumn ? { index_column: chosenItems.indexColumn } : {}),
    },
    k,
  };
  // Lists of names on one line each, as a person would write them.
  const text =
    JSON.stringify(job, null, 2).replace(
      /\[\s+("[^"\n]*"(?:,\s+"[^"\n]*")*)\s+\]/g,
      (_, items: string) => `[${items.split(/,\s+/).join(', ')}]`,
    ) + '\n';
  const parsed = parseJob(file, text, o.root); // what we write must load
  // Examples settle the order: a wrong one fails here, naming the order that reproduces them when one does.
  const checked = await checkExamples({ ...parsed, duringInit: true }, [
    namesFromMetadata(model.metadata) ?? [],
    card?.feature_order ?? [],
    numberColumns(features, o),
  ]);
  if (!checked)
    notes.push(
      'examples: none, so nothing checks the column order against outputs the model is known to give; add --examples FILE (docs/jobs.md, "Examples")',
    );
  else {
    notes.push(
      `examples: ${checked.examples} reproduced by the model with this column order (output ${checked.outputs.join(', ')}; ${TOLERANCE_TEXT})`,
    );
    const indistinct = indistinctNote(checked);
    // Examples that chose the order must tell it from its neighbours; an order you gave is kept, with the note.
    if (indistinct && order?.source === EXAMPLES_SOURCE)
      throw new BadInputError(`job ${parsed.name}: ${indistinct}; or pass --columns in the model's order`);
    if (indistinct) notes.push(`examples: ${indistinct}`);
  }
  mkdirSync(o.jobsDir, { recursive: true });
  writeFileSync(file, text);
  return { file, job: parsed, notes, latestDate: features.latest };
}
