// What the Dockerfile and docker-compose.yml must keep, checked without a Docker engine (none runs
// on the development machines or in CI). The compose file's schema is checked by dclint in .ci/run,
// the Dockerfile's syntax by dockerfile-utils; these tests hold the project's own rules.
import { readFileSync } from 'node:fs';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

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
