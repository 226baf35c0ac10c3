// What the Dockerfile and docker-compose.yml must keep, checked without a Docker engine (none runs
// on the development machines or in CI). The compose file's schema is checked by dclint in .ci/run,
// the Dockerfile's syntax by dockerfile-utils; these tests hold the project's own rules.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SETTING_NAMES } from '../../src/config-schema.js';
import { checkInstallations } from '../../src/fleet/installation-spec.js';

const root = new URL('../../', import.meta.url);
const dockerfileText = readFileSync(new URL('Dockerfile', root), 'utf8');
const lines = dockerfileText.split('\n');
const dockerfile = DockerfileParser.parse(dockerfileText);
/** The instruction's whole text, flags such as --from included. */
const text = (i: Instruction) => lines.slice(i.getRange().start.line, i.getRange().end.line + 1).join('\n');

function finalStage(): Instruction[] {
  const instructions = dockerfile.getInstructions();
  return instructions.slice(instructions.lastIndexOf(dockerfile.getFROMs().at(-1)!));
}

describe('Dockerfile', () => {
  it('is multi-stage on a current Node LTS image', () => {
    expect(dockerfile.getFROMs().length).toBeGreaterThanOrEqual(2);
    expect(dockerfileText).toMatch(/ARG NODE_IMAGE=node:(22|24)-/);
  });

  it('runs as a non-root user, exec-form entrypoint, with a HEALTHCHECK on /healthz', () => {
    const final = finalStage();
    const user = final.filter((i) => i.getKeyword() === 'USER').at(-1);
    expect(user?.getArgumentsContent()).toBe('node');
    for (const keyword of ['ENTRYPOINT', 'CMD']) {
      const found = final.filter((i) => i.getKeyword() === keyword).at(-1);
      expect(found?.getArgumentsContent()?.trim().startsWith('['), keyword).toBe(true);
    }
    const health = final.find((i) => i.getKeyword() === 'HEALTHCHECK');
    expect(health && text(health)).toMatch(/\/healthz/);
  });

  it('ships production dependencies only and no secrets', () => {
    const copy = finalStage().find((i) => i.getKeyword() === 'COPY' && /node_modules/.test(text(i)))!;
    const stage = /--from=(\S+)/.exec(text(copy))![1];
    const instructions = dockerfile.getInstructions();
    const from = dockerfile.getFROMs().find((f) => f.getBuildStage() === stage)!;
    const install = instructions.slice(instructions.indexOf(from)).find((i) => i.getKeyword() === 'RUN')!;
    expect(text(install)).toMatch(/npm ci --omit=dev/);
    for (const i of instructions.filter((x) => ['ARG', 'ENV'].includes(x.getKeyword()))) {
      expect(text(i)).not.toMatch(/SECRET|TOKEN|PASSWORD|DATABASE_URL/i);
    }
    const ignore = readFileSync(new URL('.dockerignore', root), 'utf8');
    expect(ignore).toMatch(/^\*\*$/m); // everything is left out unless listed
  });
});

describe('docker-compose.yml', () => {
  type Service = {
    command?: string[];
    environment?: Record<string, string>;
    secrets?: string[];
    profiles?: string[];
    volumes?: string[];
    depends_on?: Record<string, unknown>;
  };
  const compose = parse(readFileSync(new URL('docker-compose.yml', root), 'utf8')) as {
    services: Record<string, Service>;
    volumes: Record<string, unknown>;
  };

  it('runs the daemon configured by environment and secret files, after a healthy PostgreSQL with a named volume', () => {
    const daemon = compose.services['provet-sync']!;
    expect(daemon.command).toEqual(['daemon']);
    expect(daemon.depends_on).toEqual({ db: { condition: 'service_healthy' } });
    for (const name of ['PROVET_CLIENT_SECRET', 'DATABASE_URL', 'WEBHOOK_SECRET']) {
      expect(daemon.environment?.[`${name}_FILE`]).toMatch(/^\/run\/secrets\//);
      expect(daemon.environment?.[name]).toBeUndefined();
    }
    expect(compose.services.db?.volumes).toContain('pgdata:/var/lib/postgresql/data');
    expect(compose.volumes).toHaveProperty('pgdata');
  });

  it('adds the simulator only in the demo profile, and the daemon points at it by default', () => {
    expect(compose.services.simulator?.profiles).toEqual(['demo']);
    expect(compose.services.simulator?.command?.[0]).toBe('simulate');
    expect(compose.services['provet-sync']?.environment?.PROVET_BASE_URL).toMatch(/simulator:8000/);
  });
});

describe('docker-compose.yml: the fleet profile', () => {
  type Service = {
    command?: string[];
    environment?: Record<string, string>;
    secrets?: string[];
    configs?: { source: string; target: string }[];
    profiles?: string[];
    depends_on?: Record<string, { condition: string }>;
    healthcheck?: { test?: string[]; disable?: boolean };
    restart?: string;
    read_only?: boolean;
    cap_drop?: string[];
    security_opt?: string[];
    tmpfs?: string[];
  };
  const composeText = readFileSync(new URL('docker-compose.yml', root), 'utf8');
  const compose = parse(composeText) as {
    services: Record<string, Service>;
    secrets: Record<string, { file: string }>;
    configs: Record<string, { file: string }>;
  };
  const fleet = Object.entries(compose.services).filter(([, s]) => s.profiles?.includes('fleet'));
  const workers = fleet.filter(([, s]) => s.command?.[0] === 'worker');
  const simulators = fleet.filter(([, s]) => s.command?.[0] === 'simulate');
  const appliers = fleet.filter(([, s]) => s.command?.[0] === 'installations');
  /** A path in the compose file, with ${VAR:-default} as its default, relative to the repository. */
  const local = (path: string) => new URL(path.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1'), root);
  const flag = (s: Service, name: string) => s.command?.[s.command.indexOf(name) + 1];
  const settingNames = new Set<string>(SETTING_NAMES);

  it('has two workers, three simulators and the one-shot apply, only in that profile', () => {
    expect(workers).toHaveLength(2);
    expect(simulators).toHaveLength(3);
    expect(appliers).toHaveLength(1);
    expect(fleet).toHaveLength(6);
    for (const [, s] of fleet) expect(s.profiles).toEqual(['fleet']);
    for (const [, s] of workers) expect(s.command).toEqual(['worker']);
    expect(new Set(simulators.map(([, s]) => flag(s, '--provet-id'))).size).toBe(3);
    expect(new Set(simulators.map(([, s]) => flag(s, '--client-secret'))).size).toBe(3);
  });

  it('applies the checked-in fleet.yaml once the database is healthy, and runs once', () => {
    const [, apply] = appliers[0]!;
    expect(apply.command).toEqual(['installations', 'apply', '/fleet/fleet.yaml']);
    expect(apply.depends_on?.db).toEqual({ condition: 'service_healthy' });
    expect(apply.restart).toBe('no');
    const config = apply.configs?.find((c) => c.target === '/fleet/fleet.yaml');
    expect(compose.configs[config!.source]?.file).toBe('./deploy/fleet/fleet.yaml');
    for (const [name, w] of workers) {
      expect(w.depends_on?.db, name).toEqual({ condition: 'service_healthy' });
      expect(Object.keys(w.depends_on ?? {}), name).not.toContain(appliers[0]![0]);
    }
  });

  it('keeps the daemon’s conventions: read-only root, no capabilities, no new privileges, healthcheck on /healthz', () => {
    for (const [name, s] of [...workers, ...appliers]) {
      expect(s.read_only, name).toBe(true);
      expect(s.cap_drop, name).toEqual(['ALL']);
      expect(s.security_opt, name).toContain('no-new-privileges:true');
      expect(s.tmpfs, name).toContain('/tmp');
    }
    for (const [name, w] of workers) {
      expect(w.healthcheck?.test?.join(' '), name).toMatch(/127\.0\.0\.1:8080\/healthz/);
      expect(w.environment?.HTTP_PORT, name).toBe('8080');
    }
  });

  it('sets only provet-sync’s settings, and every secret as a file; no secret value is inline', () => {
    for (const [name, s] of [...workers, ...appliers]) {
      for (const key of Object.keys(s.environment ?? {})) {
        expect(settingNames.has(key.replace(/_FILE$/, '')), `${name}: ${key}`).toBe(true);
        expect(key, `${name}: ${key}`).not.toMatch(
          /^(PROVET_CLIENT_SECRET|PROVET_API_TOKEN|DATABASE_URL|WEBHOOK_SECRET)$/,
        );
      }
      expect(s.environment?.DATABASE_URL_FILE, name).toBe('/run/secrets/database_url');
      expect(s.secrets, name).toContain('database_url');
    }
    // The demo secrets' values appear only on the simulators' command lines (they play Provet).
    for (const file of ['database_url', 'db_password']) {
      const value = readFileSync(local(compose.secrets[file]!.file), 'utf8').trim();
      expect(composeText).not.toContain(value);
    }
  });

  it('fleet.yaml passes the checks of installations apply, with the files the containers mount, and matches the simulators', async () => {
    const file = parse(readFileSync(new URL('deploy/fleet/fleet.yaml', root), 'utf8')) as {
      installations: Record<string, unknown>[];
    };
    expect(file.installations).toHaveLength(3);
    const inputs = file.installations.map((entry, i) => {
      const secretPath = entry.clientSecretFile as string;
      const secret = /^\/run\/secrets\/([a-z0-9_]+)$/.exec(secretPath)?.[1];
      expect(secret, secretPath).toBeDefined();
      for (const [name, s] of [...workers, ...appliers]) expect(s.secrets, name).toContain(secret);
      const path = local(compose.secrets[secret!]!.file);
      // The simulator it names plays this installation: its provet id, its client secret.
      const url = new URL(entry.baseUrl as string);
      const simulator = compose.services[url.hostname];
      expect(simulator?.profiles, url.hostname).toEqual(['fleet']);
      expect(url.port).toBe(flag(simulator!, '--port'));
      expect(url.pathname).toBe(`/${flag(simulator!, '--provet-id')}/api/0.1/`);
      expect(readFileSync(path, 'utf8').trim()).toBe(flag(simulator!, '--client-secret'));
      return { label: `installations[${i}]`, input: { ...entry, clientSecretFile: fileURLToPath(path) } };
    });
    const checked = await checkInstallations(inputs, [], 'provet_sync');
    expect(checked.problems).toEqual([]);
    expect(checked.rows).toHaveLength(3);
  });

  it('leaves the demo profile and the default services as they were', () => {
    expect(compose.services.simulator?.profiles).toEqual(['demo']);
    const defaults = Object.entries(compose.services).filter(([, s]) => !s.profiles);
    expect(defaults.map(([name]) => name).sort()).toEqual(['db', 'provet-sync']);
  });
});
