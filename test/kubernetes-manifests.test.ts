// deploy/kubernetes/ validated offline against the Kubernetes 1.33 API schemas (kubernetes-models, ajv
// and strict fields; see kubernetes-schema.ts), plus what the schemas cannot say: the rules the API server
// enforces on Indexed Jobs, and that the files agree with each other and with batchcast.

import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli/main.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { parseJob } from '../src/jobs/load-job.ts';
import { parseShard } from '../src/read/shard.ts';
import { createApiKey } from '../src/store/api-keys.ts';
import { createTestDb } from './helpers.ts';
import { type Manifest, parseManifests, validateManifests } from './kubernetes-schema.ts';
import { publishFixture, startTestServer } from './serve-helpers.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(repo, 'deploy', 'kubernetes');
// The .yaml files are what `kubectl apply -f deploy/kubernetes/` applies; the Secret is an example only.
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml') || f.endsWith('.yaml.example'))
  .sort();
const manifests = files.flatMap((f) => parseManifests(path.join(dir, f), readFileSync(path.join(dir, f), 'utf8')));

function find(kind: string, name?: string): any {
  const found = manifests.filter((m) => m.doc.kind === kind && (name === undefined || m.doc.metadata?.name === name));
  expect(found, `one ${kind} ${name ?? ''} in deploy/kubernetes`).toHaveLength(1);
  return found[0].doc as any;
}

// A 5 s budget would be enough on a quiet machine; the TypeScript pass loads the package's declarations.
const slow = 60_000;

describe('deploy/kubernetes against the Kubernetes 1.33 schemas', () => {
  it('has the expected objects, each in a GA API version', () => {
    expect(files).toEqual([
      'configmap-jobs.yaml',
      'cronjob-predict.yaml',
      'deployment-serve.yaml',
      'networkpolicy-serve.yaml',
      'secret-api-keys.yaml.example',
      'secret-database.yaml.example',
    ]);
    expect(manifests.map((m) => `${m.doc.apiVersion} ${m.doc.kind}`).sort()).toEqual(
      [
        'v1 ConfigMap',
        'batch/v1 CronJob',
        'apps/v1 Deployment',
        'v1 Service',
        'policy/v1 PodDisruptionBudget',
        'networking.k8s.io/v1 NetworkPolicy',
        'v1 Secret',
        'v1 Secret',
      ].sort(),
    );
  });

  it(
    'every manifest is valid, with no unknown field',
    async () => {
      expect(await validateManifests(manifests, repo)).toEqual([]);
    },
    slow,
  );

  it(
    'a broken manifest fails: misspelled field, wrong type, unknown enum value, missing required field',
    async () => {
      const cron = manifests.find((m) => m.doc.kind === 'CronJob')!;
      // Each case is a copy named after its case, so one validation pass (one TypeScript program) checks all.
      const broken = (name: string, mutate: (spec: any) => void): Manifest => {
        const copy = structuredClone(cron);
        copy.doc.metadata = { ...copy.doc.metadata, name };
        mutate((copy.doc as any).spec.jobTemplate.spec);
        return copy;
      };
      const cases: [Manifest, RegExp][] = [
        [
          broken('misspelled', (s) => {
            s.backoffLimitPerIndx = s.backoffLimitPerIndex;
            delete s.backoffLimitPerIndex;
          }),
          /'"backoffLimitPerIndx"' does not exist in type 'IJobSpec'/,
        ],
        [
          broken('misspelled-deep', (s) => {
            s.template.spec.containers[0].imagePullPolicyy = 'Always';
          }),
          /'"imagePullPolicyy"' does not exist in type 'IContainer'/,
        ],
        [
          broken('wrong-type', (s) => {
            s.completions = '4';
          }),
          /completions must be integer/,
        ],
        [
          broken('bad-enum', (s) => {
            s.completionMode = 'Indexd';
          }),
          /completionMode must be equal to one of the allowed values/,
        ],
        [
          broken('bad-action', (s) => {
            s.podFailurePolicy.rules[0].action = 'FailIndx';
          }),
          /action must be equal to one of the allowed values/,
        ],
        [
          broken('missing-name', (s) => {
            delete s.template.spec.containers[0].name;
          }),
          /must have required property name/,
        ],
      ];
      const errors = await validateManifests(
        cases.map(([m]) => m),
        repo,
      );
      for (const [m, expected] of cases) {
        const mine = errors.filter((e) => e.startsWith(`cronjob-predict.yaml CronJob ${m.doc.metadata!.name}: `));
        expect(mine.join('\n'), `${m.doc.metadata!.name}: ${expected}`).toMatch(expected);
      }
      expect(() => parseManifests('x.yaml', 'a: 1\na: 2\n')).toThrow(/x.yaml document 1: .*unique/i);
    },
    slow,
  );
});

describe('the predict CronJob', () => {
  const cron = find('CronJob');
  const job = cron.spec.jobTemplate.spec;
  const pod = job.template.spec;
  const container = pod.containers[0];

  it('runs an Indexed Job whose completions equal the N of --shard auto/N', () => {
    expect(job.completionMode).toBe('Indexed');
    const shard = container.args[container.args.indexOf('--shard') + 1];
    expect(shard).toMatch(/^auto\/\d+$/);
    expect(parseShard(shard, { JOB_COMPLETION_INDEX: String(job.completions - 1) })).toEqual({
      index: job.completions - 1,
      count: job.completions,
    });
    expect(() => parseShard(shard, { JOB_COMPLETION_INDEX: String(job.completions) })).toThrow(/not below the shard count/);
    expect(job.parallelism).toBeLessThanOrEqual(job.completions);
    expect(container.args).not.toContain('--date'); // each pod scores yesterday (UTC): predict's default
    expect(cron.spec.timeZone).toBe('Etc/UTC');
  });

  it("follows the API server's rules for per-index retries, which the schema does not express", () => {
    // FailIndex needs backoffLimitPerIndex; podFailurePolicy needs restartPolicy Never and podReplacementPolicy Failed.
    expect(job.backoffLimitPerIndex).toBeGreaterThanOrEqual(1);
    expect(job.backoffLimit).toBeUndefined();
    expect(pod.restartPolicy).toBe('Never');
    expect(job.podReplacementPolicy).toBe('Failed');
    const failIndex = job.podFailurePolicy.rules.filter((r: any) => r.action === 'FailIndex');
    expect(failIndex).toEqual([{ action: 'FailIndex', onExitCodes: { containerName: container.name, operator: 'In', values: [2, 6] } }]);
    // exit 3 (lock busy) and 4 (infrastructure) must stay retryable: no rule may fail or ignore them
    for (const rule of job.podFailurePolicy.rules) expect(rule.onExitCodes?.values ?? []).not.toContain(3);
    for (const rule of job.podFailurePolicy.rules) expect(rule.onExitCodes?.values ?? []).not.toContain(4);
  });

  it("the pods' activeDeadlineSeconds keeps every attempt on the scheduled UTC day", () => {
    const [minute, hour] = cron.spec.schedule.split(' ').map(Number);
    const latestStart = hour * 3600 + minute * 60 + cron.spec.startingDeadlineSeconds;
    expect(latestStart + job.activeDeadlineSeconds).toBeLessThan(24 * 3600);
  });
});

describe('the manifests agree with each other and with batchcast', () => {
  const cron = find('CronJob');
  const deployment = find('Deployment');
  const service = find('Service');
  const configMap = find('ConfigMap');
  const secrets = [find('Secret', 'batchcast-database'), find('Secret', 'batchcast-api-keys')];
  const pods = [cron.spec.jobTemplate.spec.template.spec, deployment.spec.template.spec];

  it('every job file in the ConfigMap is a valid job, with features read from object storage', () => {
    for (const [key, text] of Object.entries(configMap.data as Record<string, string>)) {
      expect(key).toMatch(/\.json$/);
      const job = parseJob(`/etc/batchcast/jobs/${key}`, text, '/app');
      expect(job.features.path).toMatch(/^s3:\/\//);
      expect(job.model.path.startsWith('/app/models/')).toBe(true);
    }
    expect(Object.keys(configMap.data)).toContain(`${cron.spec.jobTemplate.spec.template.spec.containers[0].args[2]}.json`);
  });

  it('the Secret and ConfigMap references resolve, and serve gets only the read-only URL', () => {
    for (const pod of pods) {
      for (const env of pod.containers[0].env) {
        const ref = env.valueFrom?.secretKeyRef;
        if (ref) {
          const secret = secrets.find((x) => x.metadata.name === ref.name);
          expect(secret, ref.name).toBeDefined();
          expect(Object.keys(secret.stringData)).toContain(ref.key);
        }
      }
      const jobs = pod.volumes.find((v: any) => v.configMap);
      expect(jobs.configMap.name).toBe(configMap.metadata.name);
      const jobsDir = pod.containers[0].env.find((e: any) => e.name === 'BATCHCAST_JOBS_DIR').value;
      expect(pod.containers[0].volumeMounts.find((v: any) => v.name === jobs.name).mountPath).toBe(jobsDir);
    }
    expect(deployment.spec.template.spec.containers[0].env.map((e: any) => e.name)).not.toContain('DATABASE_URL');
  });

  it('serve LISTENs on the primary with the read-only role (LISTEN_DATABASE_URL), not on the replica nor as the writer', () => {
    const env = deployment.spec.template.spec.containers[0].env;
    const ref = (name: string) => env.find((e: any) => e.name === name)?.valueFrom?.secretKeyRef;
    expect(ref('LISTEN_DATABASE_URL')).toEqual({ name: 'batchcast-database', key: 'listen-url' });
    const secret = secrets.find((x) => x.metadata.name === 'batchcast-database');
    const user = (key: string) => new URL(secret.stringData[key]).username;
    expect(user('listen-url')).toBe(user('lookup-url'));
    expect(user('listen-url')).not.toBe(user('url'));
    // the manifest's name is the one serve reads
    const listen = secret.stringData['listen-url'];
    expect(loadConfig({ root: repo }, { LISTEN_DATABASE_URL: listen }).listenDatabaseUrl).toBe(listen);
  });

  it('serve: probes on /readyz and /healthz, the Service selects the pods, and the arguments are real options', () => {
    const c = deployment.spec.template.spec.containers[0];
    expect(c.readinessProbe.exec.command.join(' ')).toMatch(/\/readyz.*BATCHCAST_PROBE_KEY/s);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8080 }]);
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    const serve = buildProgram().commands.find((cmd) => cmd.name() === c.args[0])!;
    for (const arg of c.args.slice(1)) expect(serve.options.map((o) => o.long)).toContain(arg);
    // serve's shutdown (10 s) after the preStop sleep (5 s) fits the grace period
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(5 + 10);
  });

  it('the Dockerfile copies files that exist and runs real commands', () => {
    const dockerfile = readFileSync(path.join(dir, 'Dockerfile'), 'utf8');
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1].split(' '));
    expect(copies.length).toBeGreaterThan(3);
    for (const f of copies) expect(existsSync(path.join(repo, f)), f).toBe(true);
    const commands = buildProgram().commands.map((c) => c.name());
    expect(dockerfile).toContain('RUN node bin/batchcast.js install-extensions');
    expect(commands).toContain('install-extensions');
    expect(dockerfile).toMatch(/^FROM node:20-/m);
    expect(JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')).engines.node).toMatch(/^>=20/);
  });
});

describe('serve with authentication on, as deployed', () => {
  const deployment = find('Deployment');
  const c = deployment.spec.template.spec.containers[0];
  const env = (name: string) => c.env.find((e: any) => e.name === name);

  it('binds 0.0.0.0, and the NetworkPolicy admits only labelled clients, the ingress and monitoring to its port', () => {
    expect(env('BATCHCAST_SERVE_HOST').value).toBe('0.0.0.0');
    const policy = find('NetworkPolicy');
    expect(policy.spec.podSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(policy.spec.ingress).toHaveLength(1);
    expect(policy.spec.ingress[0].ports).toEqual([{ protocol: 'TCP', port: 'http' }]);
    expect(policy.spec.ingress[0].from).toContainEqual({ podSelector: { matchLabels: { 'batchcast.io/api-client': 'true' } } });
  });

  it(
    "the readiness probe's exec command passes with the Secret's key, and fails without it, against a real serve",
    async () => {
      expect(env('BATCHCAST_PROBE_KEY').valueFrom.secretKeyRef).toEqual({ name: 'batchcast-api-keys', key: 'probe-key' });
      const t = await createTestDb('k8s_probe');
      try {
        const pub = await publishFixture(t, { name: 'probe', users: 20 });
        const probe = await createApiKey(t.db.pool, { name: 'k8s-probe', scopes: ['metrics'] });
        const lookupOnly = await createApiKey(t.db.pool, { name: 'app', scopes: ['lookup'] });
        const server = await startTestServer(t.url, pub.fx.root, { host: '0.0.0.0' });
        const run = (key: string) =>
          new Promise<number>((resolve) => {
            const [cmd, ...args] = c.readinessProbe.exec.command;
            expect(cmd).toBe('node');
            execFile(
              process.execPath,
              args,
              {
                env: { BATCHCAST_SERVE_PORT: String(server.port), BATCHCAST_PROBE_KEY: key },
                timeout: c.readinessProbe.timeoutSeconds * 1000,
              },
              (err) => resolve(err ? (typeof err.code === 'number' ? err.code : -1) : 0),
            );
          });
        try {
          expect(await run(probe.key)).toBe(0);
          expect(await run(lookupOnly.key)).toBe(1); // 403: the probe key needs the metrics scope
          expect(await run('')).toBe(1);
        } finally {
          await server.stop();
        }
      } finally {
        await t.drop();
      }
    },
    slow,
  );
});
