// Validates Kubernetes manifests offline against the Kubernetes 1.33 API schemas shipped in the
// kubernetes-models package (generated from Kubernetes' OpenAPI spec), in two passes:
//   1. the schema itself, compiled with ajv by the package: types, enums, required fields, formats;
//   2. strict fields, as `kubeconform -strict` or the API server's fieldValidation=Strict would: the
//      OpenAPI spec allows unknown properties, so a misspelled field would pass (1) and then be dropped
//      silently by the server. TypeScript's excess-property check against the same package's generated
//      interfaces catches it at any depth.
// Nothing is downloaded: both passes read only node_modules.
import path from 'node:path';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';

export interface Manifest {
  file: string;
  index: number;
  doc: { apiVersion: string; kind: string; metadata?: { name?: string }; [k: string]: unknown };
}

/** Parses every document of a YAML file; a YAML error (duplicate key, bad indentation) throws. */
export function parseManifests(file: string, text: string): Manifest[] {
  return parseAllDocuments(text, { uniqueKeys: true }).map((d, index) => {
    if (d.errors.length) throw new Error(`${file} document ${index + 1}: ${d.errors.map((e) => e.message).join('; ')}`);
    const doc = d.toJS() as Manifest['doc'];
    if (!doc || typeof doc.apiVersion !== 'string' || typeof doc.kind !== 'string') {
      throw new Error(`${file} document ${index + 1}: apiVersion and kind are required`);
    }
    return { file, index, doc };
  });
}

/** kubernetes-models' module for an apiVersion and kind: core "v1" lives at v1/, groups at <group>/<version>/. */
function modelModule(m: Manifest): string {
  return `kubernetes-models/${m.doc.apiVersion}/${m.doc.kind}`;
}

function where(m: Manifest): string {
  return `${path.basename(m.file)} ${m.doc.kind} ${m.doc.metadata?.name ?? `#${m.index + 1}`}`;
}

async function schemaErrors(m: Manifest): Promise<string[]> {
  let Model: new (data: unknown) => { validate(): void };
  try {
    Model = (await import(modelModule(m)))[m.doc.kind];
  } catch (err) {
    return [`${where(m)}: ${m.doc.apiVersion} ${m.doc.kind} is not a Kubernetes 1.33 API type (${(err as Error).message.split('\n')[0]})`];
  }
  try {
    new Model(m.doc).validate();
    return [];
  } catch (err) {
    return [`${where(m)}: ${(err as Error).message}`];
  }
}

/** Type-checks every manifest as an object literal of its generated interface, in one in-memory program. */
function strictFieldErrors(manifests: Manifest[], repoRoot: string): string[] {
  const fileName = path.join(repoRoot, 'test', '__manifests__.ts');
  const starts: number[] = [];
  let source = '';
  manifests.forEach((m, i) => {
    source += `import type { I${m.doc.kind} as T${i} } from '${modelModule(m)}';\n`;
  });
  manifests.forEach((m, i) => {
    starts.push(source.length);
    source += `export const m${i}: T${i} = ${JSON.stringify(m.doc, null, 1)};\n`;
  });
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, lang, ...rest) =>
    name === fileName ? ts.createSourceFile(name, source, lang) : getSourceFile.call(host, name, lang, ...rest);
  host.fileExists = (name) => name === fileName || fileExists.call(host, name);
  host.readFile = (name) => (name === fileName ? source : readFile.call(host, name));
  const program = ts.createProgram([fileName], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === fileName)
    .map((d) => {
      const at = d.start ?? 0;
      let i = starts.length - 1;
      while (i > 0 && starts[i] > at) i--;
      const text = ts.flattenDiagnosticMessageText(d.messageText, ' ');
      return at < starts[0] ? `${text}` : `${where(manifests[i])}: ${text}`;
    });
}

/** Every error of every manifest, as one line each; empty when all are valid. */
export async function validateManifests(manifests: Manifest[], repoRoot: string): Promise<string[]> {
  const errors: string[] = [];
  for (const m of manifests) errors.push(...(await schemaErrors(m)));
  errors.push(...strictFieldErrors(manifests, repoRoot));
  return errors;
}
