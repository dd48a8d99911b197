// The decisions of `batchcast init`, each from what the inputs prove. When they cannot decide, the error
// says what was found and which flag settles it.
import path from 'node:path';
import { BadInputError } from '../errors.ts';
import { FEATURE_ORDER_KEYS, namesFromMetadata } from '../infer/feature-order.ts';
import { formatTensor, type ModelDescription, type TensorInfo } from '../infer/inspect-model.ts';
import { isRowShape, rowWidth } from '../infer/shapes.ts';
import { type FeatureFiles, FLOAT_LIST, INT_TYPE, type ItemsFile, NUMBER_TYPE } from '../read/inspect-files.ts';

/** tensor types batchcast feeds features as, and reads scores from */
const FLOAT_TENSOR = /^float(32|64)$/;
const list = (xs: string[]) => xs.map((x) => `"${x}"`).join(', ');

export function chooseInput(model: ModelDescription, wanted: string | undefined): TensorInfo {
  const input = wanted ? model.inputs.find((t) => t.name === wanted) : model.inputs.length === 1 ? model.inputs[0] : undefined;
  if (!input) {
    throw new BadInputError(
      wanted
        ? `--input ${wanted}: the model has no such input (inputs: ${model.inputs.map(formatTensor).join(', ')})`
        : `the model has ${model.inputs.length} inputs (${model.inputs.map(formatTensor).join(', ')}), not one per feature column named after it; ` +
            'pass --input <name> for the one that takes every feature, or write model.inputs in the job (each input -> its columns; docs/jobs.md, "The fields")',
    );
  }
  if (!FLOAT_TENSOR.test(input.type) || input.shape.length !== 2) {
    throw new BadInputError(
      `model input ${formatTensor(input)}: batchcast feeds a float32 (or float64) tensor of shape [batch, n_features]; re-export the model with such an input`,
    );
  }
  return input;
}

/**
 * A model with one input per feature (Keras, skl2onnx pipelines): every input a float [batch] or [batch, 1]
 * named after a number column of the files. Their names, in the model's order; undefined when it is not that.
 */
export function inputsPerColumn(model: ModelDescription, f: FeatureFiles): string[] | undefined {
  if (model.inputs.length < 2) return undefined;
  const numeric = new Set(f.columns.filter((c) => NUMBER_TYPE.test(c.type)).map((c) => c.name));
  const one = (t: TensorInfo) => FLOAT_TENSOR.test(t.type) && (t.shape.length === 1 || (t.shape.length === 2 && t.shape[1] === 1));
  return model.inputs.every((t) => one(t) && numeric.has(t.name)) ? model.inputs.map((t) => t.name) : undefined;
}

export interface ChosenFeatures {
  userIdColumn: string;
  columns: string[];
  listColumn: string | undefined;
  width: number;
  /** columns in the files the job does not use (they need allow_extra_columns) */
  ignored: string[];
  notes: string[];
}

const ID_NAME = /(^|_)(id|uid|key)$/i;
const ITEM_ID_NAME = /(^|_)(id|key|sku|code)$/i;
/** The model card init looks for beside a model: models/x.onnx -> models/x.card.json (as the demo writes it). */
export const cardBeside = (modelFile: string) => `${modelFile.replace(/\.onnx$/i, '')}.card.json`;

export function chooseFeatures(
  f: FeatureFiles,
  model: ModelDescription,
  input: TensorInfo,
  flags: {
    columns?: string[];
    userIdColumn?: string;
    perInput?: boolean;
    order?: { columns: string[]; source: string };
    /** --examples were given and none of the orders tried reproduced them (bind-order.ts) */
    examplesTried?: boolean;
  },
): ChosenFeatures {
  const type = new Map(f.columns.map((c) => [c.name, c.type]));
  const idTyped = f.columns.filter((c) => INT_TYPE.test(c.type) || c.type === 'VARCHAR').map((c) => c.name);
  let userIdColumn = flags.userIdColumn;
  if (userIdColumn !== undefined) {
    if (!type.has(userIdColumn))
      throw new BadInputError(`--user-id-column ${userIdColumn}: no such column on ${f.latest} (columns: ${list([...type.keys()])})`);
    if (!idTyped.includes(userIdColumn))
      throw new BadInputError(`--user-id-column ${userIdColumn} is ${type.get(userIdColumn)}; user ids must be integers or strings`);
  } else {
    const named = idTyped.filter((c) => ID_NAME.test(c));
    userIdColumn = idTyped.includes('user_id') ? 'user_id' : named.length === 1 ? named[0] : undefined;
    if (!userIdColumn) {
      throw new BadInputError(
        `cannot tell which column holds the user id (integer or text columns: ${list(idTyped) || 'none'}); pass --user-id-column <name>`,
      );
    }
  }
  const numeric = f.columns.filter((c) => c.name !== userIdColumn && NUMBER_TYPE.test(c.type)).map((c) => c.name);
  const lists = f.columns.filter((c) => FLOAT_LIST.test(c.type)).map((c) => c.name);
  const modelWidth = typeof input.shape[1] === 'number' ? input.shape[1] : undefined;
  const notes = [`user id column: "${userIdColumn}"${flags.userIdColumn ? ' (--user-id-column)' : ''}`];

  let columns: string[] = [];
  let listColumn: string | undefined;
  const fromMeta = namesFromMetadata(model.metadata);
  if (flags.columns) {
    if (flags.columns.length === 1 && lists.includes(flags.columns[0])) listColumn = flags.columns[0];
    else columns = flags.columns;
    notes.push(flags.perInput ? `features: one model input per column, matched by name (model.inputs)` : `feature order: from --columns`);
  } else if (flags.order) {
    columns = flags.order.columns;
    notes.push(`feature order: ${flags.order.source}`);
  } else if (fromMeta?.every((c) => numeric.includes(c))) {
    columns = fromMeta;
    notes.push(`feature order: from the model's metadata (${FEATURE_ORDER_KEYS.find((k) => model.metadata[k])})`);
  } else if (lists.length === 1 && (modelWidth === undefined || f.listWidths[lists[0]] === modelWidth)) {
    listColumn = lists[0];
    notes.push(`features: list column "${listColumn}" (its order is the model's input order)`);
  } else if (numeric.length === 1 && (modelWidth === undefined || modelWidth === 1)) {
    columns = numeric;
  } else {
    const wants = modelWidth !== undefined ? `takes ${modelWidth} value(s) per user` : `takes [${input.shape.join(', ')}]`;
    const cardHint = path.basename(cardBeside(model.file));
    // No list here: the files' order is the one list at hand, and it is as likely as any other to be wrong.
    if (flags.examplesTried)
      throw new BadInputError(
        `the model's input "${input.name}" ${wants}; the examples (--examples) were tried with their own key order, the files' order and its reverse, ` +
          'and the model reproduces them with none of these. Find the order the model was trained with (the columns of the DataFrame or tensor ' +
          `given to fit() or torch.onnx.export, or a model card ${cardHint} with "feature_order") and pass --columns in that order: the examples ` +
          'then check it. If that fails too, the examples were not computed by this model file (docs/jobs.md, "Examples")',
      );
    throw new BadInputError(
      `the model's input "${input.name}" ${wants}; the files have ${numeric.length} number column(s)` +
        `${lists.length ? ` and list column(s) ${list(lists)}` : ''}. Neither the model's metadata nor a model card gives the model's feature order, ` +
        'and column names cannot say which columns it takes or in what order. Find the order it was trained with: in the training code ' +
        '(the columns of the DataFrame or tensor given to fit() or torch.onnx.export), in the ONNX metadata_props (feature_names, if the exporter wrote them), ' +
        `or in a model card beside the model (${cardHint}, "feature_order"); then pass --columns in that order, with --examples FILE ` +
        '(rows with the outputs the training code computed) so that batchcast checks it (docs/jobs.md, "Feature order")',
    );
  }
  for (const c of columns) {
    if (!type.has(c))
      throw new BadInputError(`--columns: column "${c}" is not in the files of ${f.latest} (columns: ${list([...type.keys()])})`);
    if (!numeric.includes(c))
      throw new BadInputError(
        `--columns: column "${c}" is ${type.get(c)}, not a number${c === userIdColumn ? ' (it is the user id column)' : ''}`,
      );
  }
  if (new Set(columns).size !== columns.length) throw new BadInputError('--columns lists a column twice');
  const width = listColumn ? f.listWidths[listColumn] : columns.length;
  if (width === undefined)
    throw new BadInputError(
      `list column "${listColumn}" has rows of different lengths on ${f.latest}; every row needs the model's ${modelWidth ?? 'n'} values`,
    );
  if (modelWidth !== undefined && width !== modelWidth) {
    throw new BadInputError(
      `the model's input "${input.name}" takes ${modelWidth} values per user but ${listColumn ? `list column "${listColumn}" holds ${width}` : `--columns names ${width}`}; give exactly the model's inputs`,
    );
  }
  const used = new Set([userIdColumn, ...columns, ...(listColumn ? [listColumn] : [])]);
  const ignored = f.columns.map((c) => c.name).filter((c) => !used.has(c));
  if (!listColumn) notes.push(`features: ${columns.length} column(s) ${columns.join(', ')}`);
  if (ignored.length) notes.push(`ignored column(s) ${list(ignored)}: the job sets features.allow_extra_columns`);
  return { userIdColumn, columns, listColumn, width, ignored, notes };
}

export type ChosenOutput =
  | { kind: 'scores'; name: string; width: number | undefined; note: string }
  | { kind: 'top_k'; values: string; indices: string; width: number | undefined; note: string };

/** `itemCount`: the items file's rows, which settles which of several score outputs scores every item. */
export function chooseOutput(model: ModelDescription, wanted: string[] | undefined, itemCount?: number): ChosenOutput {
  const dims = (t: TensorInfo) => model.probed?.[t.name] ?? t.shape;
  const width = (t: TensorInfo) => rowWidth(dims(t));
  const byName = (n: string) => {
    const t = model.outputs.find((o) => o.name === n);
    if (!t) throw new BadInputError(`--output ${n}: the model has no such output (outputs: ${model.outputs.map(formatTensor).join(', ')})`);
    return t;
  };
  // [batch, n], or [batch] (a scoring model: one score per user), or [batch, 1, n]
  const floats = model.outputs.filter((t) => FLOAT_TENSOR.test(t.type) && isRowShape(dims(t)));
  // a classifier's predicted label is [batch] int64: not item indices
  const ints = model.outputs.filter((t) => /^u?int(32|64)$/.test(t.type) && dims(t).length >= 2 && isRowShape(dims(t)));
  let pick: [TensorInfo] | [TensorInfo, TensorInfo] | undefined;
  if (wanted) pick = wanted.length === 1 ? [byName(wanted[0])] : [byName(wanted[0]), byName(wanted[1])];
  else if (ints.length === 1) {
    const partners = floats.filter((t) => width(t) === width(ints[0]));
    if (partners.length === 1) pick = [partners[0], ints[0]];
  } else if (ints.length === 0 && floats.length === 1) pick = [floats[0]];
  else if (ints.length === 0 && itemCount !== undefined) {
    // e.g. a user embedding beside the scores: the scores are the one output with a column per item
    const perItem = floats.filter((t) => width(t) === itemCount);
    if (perItem.length === 1) pick = [perItem[0]];
  }
  if (!pick) {
    // skl2onnx writes a classifier's probabilities as a ZipMap (a sequence of maps) unless told not to
    const maps = model.outputs.filter((t) => t.type === 'non-tensor').map((t) => `"${t.name}"`);
    const zipmap = maps.length
      ? `; output ${maps.join(', ')} is not a tensor (a classifier's ZipMap?): re-export it as a tensor (skl2onnx: options={'zipmap': False})`
      : '';
    throw new BadInputError(
      `cannot tell which output(s) hold the recommendations (outputs: ${model.outputs.map(formatTensor).join(', ')}); ` +
        `pass --output <scores> for scores over all items, or --output <values>,<indices> for top-K values and item indices${zipmap}`,
    );
  }
  if (pick.length === 1) {
    return {
      kind: 'scores',
      name: pick[0].name,
      width: width(pick[0]),
      note: `output: "${pick[0].name}" scores every item (${width(pick[0]) ?? '?'} items); batchcast takes the top K`,
    };
  }
  return {
    kind: 'top_k',
    values: pick[0].name,
    indices: pick[1].name,
    width: width(pick[0]),
    note: `output: top-K values "${pick[0].name}" and item indices "${pick[1].name}" (${width(pick[0]) ?? '?'} per user)`,
  };
}

export function chooseItems(items: ItemsFile, output: ChosenOutput, flags: { idColumn?: string; indexColumn?: string }) {
  const names = items.columns.map((c) => c.name);
  const notes = [`items: ${items.rows} rows, columns ${names.join(', ')}`];
  if (output.kind === 'scores' && output.width !== undefined && output.width !== items.rows) {
    throw new BadInputError(
      `--items ${items.file} has ${items.rows} rows but the model's output "${output.name}" scores ${output.width} items; use the items file the model was trained with`,
    );
  }
  if (output.kind === 'top_k') notes.push(`  the model returns item indices; the dry run checks they fall within the ${items.rows} items`);
  for (const [flag, c] of [
    ['--item-id-column', flags.idColumn],
    ['--item-index-column', flags.indexColumn],
  ] as const) {
    if (c !== undefined && !names.includes(c))
      throw new BadInputError(`${flag} ${c}: no such column in ${items.file} (columns: ${list(names)})`);
  }
  let indexColumn = flags.indexColumn;
  if (indexColumn !== undefined && !items.indexCandidates.includes(indexColumn)) {
    throw new BadInputError(`--item-index-column ${indexColumn} does not number the items 0..${items.rows - 1} without gaps`);
  }
  if (indexColumn === undefined) {
    const named = items.indexCandidates.filter((c) => /^(idx|index|item_idx|item_index)$/i.test(c));
    indexColumn = named.length === 1 ? named[0] : items.indexCandidates.length === 1 ? items.indexCandidates[0] : undefined;
  }
  notes.push(
    indexColumn
      ? `item index column: "${indexColumn}" (numbers the items 0..${items.rows - 1})`
      : "item index: no column numbers the items 0..n-1, so the file's row order is the model's item index; if it is not, pass --item-index-column",
  );
  let idColumn = flags.idColumn;
  if (idColumn === undefined) {
    const unique = items.uniqueColumns.filter((c) => c !== indexColumn);
    const preferred = unique.find((c) => c === 'item_id') ?? unique.find((c) => c === 'id');
    const named = unique.filter((c) => ITEM_ID_NAME.test(c));
    idColumn = preferred ?? (named.length === 1 ? named[0] : unique.length === 1 ? unique[0] : undefined);
    if (!idColumn)
      throw new BadInputError(
        `cannot tell which column of ${items.file} is the item id (columns with distinct values: ${list(unique) || 'none'}); pass --item-id-column <name>`,
      );
  }
  notes.push(`item id column: "${idColumn}"`);
  return { idColumn, indexColumn, notes };
}
