// What deploy/kubernetes/ must keep, checked without a cluster. The objects' schemas (kinds,
// apiVersions, field types) are checked against the Kubernetes API's by .ci/kubernetes-manifests.sh;
// these tests hold the project's own rules: the image's worker command, probes on its HTTP port,
// only provet-sync's settings in the environment, every secret a mounted file, and a fleet.yaml
// that `installations apply` accepts with the files the pod mounts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { SETTING_NAMES } from '../../src/config-schema.js';
import { checkInstallations } from '../../src/fleet/installation-spec.js';

const dir = new URL('../../deploy/kubernetes/', import.meta.url);
const read = (file: string) => readFileSync(new URL(file, dir), 'utf8');

type EnvVar = { name: string; value?: string; valueFrom?: unknown };
type Mount = { name: string; mountPath: string; readOnly?: boolean };
type Probe = { httpGet?: { path: string; port: string | number } };
type Container = {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: unknown[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts?: Mount[];
};
type SecretItems = { name?: string; secretName?: string; items?: { key: string; path: string }[] };
type Volume = {
  name: string;
  configMap?: { name: string };
  secret?: SecretItems;
  projected?: { sources: { secret?: SecretItems }[] };
  emptyDir?: unknown;
};
type PodSpec = {
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  initContainers?: Container[];
  containers: Container[];
  volumes?: Volume[];
};
type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
};

const kustomization = parse(read('kustomization.yaml')) as {
  resources: string[];
  configMapGenerator: { name: string; files: string[] }[];
  images: { name: string }[];
};
const objects: K8sObject[] = kustomization.resources.flatMap((file) =>
  parseAllDocuments(read(file)).map((doc) => {
    expect(doc.errors, file).toEqual([]);
    return doc.toJS() as K8sObject;
  }),
);
const deployment = objects.find((o) => o.kind === 'Deployment')!;
const pod = (deployment.spec.template as { metadata: { labels: Record<string, string> }; spec: PodSpec }).spec;
const podLabels = (deployment.spec.template as { metadata: { labels: Record<string, string> } }).metadata.labels;
const worker = pod.containers.find((c) => c.name === 'worker')!;
const initApply = pod.initContainers?.find((c) => c.args?.[0] === 'installations');
const allContainers = [...(pod.initContainers ?? []), ...pod.containers];
const envOf = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
const volume = (name: string) => pod.volumes?.find((v) => v.name === name);
/** The volume mounted at the folder holding `path`, with the file's name in it. */
function mountOf(c: Container, path: string): { volume: Volume; file: string } | undefined {
  const mount = c.volumeMounts?.find((m) => posix.dirname(path) === m.mountPath);
  const found = mount && volume(mount.name);
  return found ? { volume: found, file: posix.basename(path) } : undefined;
}
/** The Secret key a projected or secret volume puts at `file`, if any. */
function secretKeyAt(v: Volume, file: string): { secret: string; key: string } | undefined {
  const sources = v.secret ? [v.secret] : (v.projected?.sources.map((s) => s.secret) ?? []);
  for (const s of sources) {
    const item = s?.items?.find((i) => i.path === file);
    if (s && item) return { secret: (s.secretName ?? s.name)!, key: item.key };
  }
  return undefined;
}

const settingNames = new Set<string>(SETTING_NAMES);
const secretSettings = ['PROVET_CLIENT_SECRET', 'PROVET_API_TOKEN', 'DATABASE_URL', 'WEBHOOK_SECRET'];

describe('deploy/kubernetes', () => {
  it('holds a Deployment, a Service and a PodDisruptionBudget of stable API versions, and no Secret', () => {
    expect(objects.map((o) => `${o.apiVersion} ${o.kind}`).sort()).toEqual([
      'apps/v1 Deployment',
      'policy/v1 PodDisruptionBudget',
      'v1 Service',
    ]);
    expect(objects.some((o) => o.kind === 'Secret')).toBe(false);
  });

  it('runs two workers of the image, with its ENTRYPOINT and `worker` as the command', () => {
    expect(deployment.spec.replicas).toBe(2);
    expect(worker.args).toEqual(['worker']);
    for (const c of allContainers) {
      expect(c.command, c.name).toBeUndefined(); // the ENTRYPOINT keeps node's flags
      expect(kustomization.images.map((i) => i.name)).toContain(c.image);
    }
    expect(worker.resources?.requests?.memory).toBeDefined();
    expect(worker.resources?.limits?.memory).toBeDefined();
  });

  it('probes /healthz (liveness) and /readyz (readiness) on the port HTTP_PORT sets', () => {
    const port = Number(envOf(worker).HTTP_PORT);
    expect(port).toBeGreaterThan(0);
    const named = worker.ports?.find((p) => p.containerPort === port);
    expect(named).toBeDefined();
    for (const [probe, path] of [
      [worker.livenessProbe, '/healthz'],
      [worker.readinessProbe, '/readyz'],
    ] as const) {
      expect(probe?.httpGet?.path).toBe(path);
      expect([port, named!.name]).toContain(probe?.httpGet?.port);
    }
    const service = objects.find((o) => o.kind === 'Service')!;
    expect(service.spec.selector).toEqual(podLabels);
    expect((service.spec.ports as { targetPort: unknown }[])[0]?.targetPort).toBe(named!.name);
    const budget = objects.find((o) => o.kind === 'PodDisruptionBudget')!;
    expect((budget.spec.selector as { matchLabels: unknown }).matchLabels).toEqual(podLabels);
  });

  it('runs as the image’s non-root user on a read-only root, /tmp an emptyDir, no capabilities', () => {
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    expect(dockerfile).toMatch(/^USER node$/m); // uid 1000 in the node images
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    for (const c of allContainers) {
      expect(c.securityContext, c.name).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
      expect(tmp && volume(tmp.name)?.emptyDir, c.name).toBeDefined();
    }
  });

  it('gives a stopping worker longer than Kubernetes’ default 30 s and docker-compose.yml’s 60 s', () => {
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(60);
  });

  it('sets only provet-sync’s settings, and every secret as a file from a mounted Secret', () => {
    for (const c of allContainers) {
      expect(c.envFrom, c.name).toBeUndefined();
      for (const e of c.env ?? []) {
        const setting = e.name.replace(/_FILE$/, '');
        expect(settingNames.has(setting), `${c.name}: ${e.name}`).toBe(true);
        expect(e.valueFrom, `${c.name}: ${e.name} (a secret goes in a file)`).toBeUndefined();
        expect(typeof e.value, `${c.name}: ${e.name}`).toBe('string');
        if (secretSettings.includes(setting)) {
          expect(e.name, `${c.name}: ${setting} only through ${setting}_FILE`).toBe(`${setting}_FILE`);
          const at = mountOf(c, e.value!);
          expect(at && secretKeyAt(at.volume, at.file), `${c.name}: ${e.value}`).toBeDefined();
        }
      }
      const env = envOf(c);
      expect(env.DATABASE_URL_FILE, c.name).toBeDefined();
    }
    // The init container and the worker see the same registry.
    expect(envOf(initApply!).PROVET_CONTROL_SCHEMA).toBe(envOf(worker).PROVET_CONTROL_SCHEMA);
  });

  describe('fleet.yaml', () => {
    const generator = kustomization.configMapGenerator.find((g) => g.files.includes('fleet.yaml'))!;
    const file = parse(read('fleet.yaml')) as { installations: Record<string, unknown>[] };
    const work = mkdtempSync(join(tmpdir(), 'provet-sync-k8s-'));
    afterAll(() => rmSync(work, { recursive: true, force: true }));

    it('is the ConfigMap that an init container applies before the worker starts', () => {
      expect(initApply).toBeDefined();
      const path = initApply!.args![2]!;
      expect(initApply!.args).toEqual(['installations', 'apply', path]);
      const at = mountOf(initApply!, path);
      expect(at?.volume.configMap?.name).toBe(generator.name);
      expect(at?.file).toBe('fleet.yaml');
    });

    it('names each credential as a file that both the init container and the worker mount from a Secret', () => {
      expect(file.installations.length).toBeGreaterThan(0);
      for (const entry of file.installations) {
        const fields = ['clientSecretFile', 'apiTokenFile', 'webhookSecretFile'].filter((f) => entry[f] !== undefined);
        expect(fields.length, String(entry.name)).toBeGreaterThan(0);
        expect(entry).not.toHaveProperty('clientSecretEnv');
        expect(entry).not.toHaveProperty('apiTokenEnv');
        for (const field of fields) {
          for (const c of [initApply!, worker]) {
            const at = mountOf(c, entry[field] as string);
            expect(at && secretKeyAt(at.volume, at.file), `${c.name}: ${String(entry[field])}`).toBeDefined();
          }
        }
      }
    });

    it('passes the checks of installations apply, with its secret files in place', async () => {
      const inputs = file.installations.map((entry, i) => {
        const input = { ...entry };
        for (const field of ['clientSecretFile', 'apiTokenFile', 'webhookSecretFile']) {
          if (typeof input[field] !== 'string') continue;
          const local = join(work, `${i}-${field}`);
          writeFileSync(local, 'not-a-secret\n');
          input[field] = local;
        }
        return { label: `installations[${i}]`, input };
      });
      const checked = await checkInstallations(inputs, [], envOf(initApply!).PROVET_CONTROL_SCHEMA ?? 'provet_sync');
      expect(checked.problems).toEqual([]);
      expect(checked.rows).toHaveLength(file.installations.length);
    });
  });
});
