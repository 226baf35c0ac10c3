import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, deriveTokenUrl, loadConfig } from '../../src/config.js';

const oauth = {
  PROVET_BASE_URL: 'https://provetcloud.com/1234/api/0.1/',
  PROVET_CLIENT_ID: 'id',
  PROVET_CLIENT_SECRET: 's3cret-value',
};

function problemsOf(env: Record<string, string>, needsProvet = true): string[] {
  try {
    loadConfig(env, { needsProvet });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig(oauth, { needsProvet: true });
    expect(config.database).toMatchObject({ url: undefined, schema: 'provet' });
    expect(config.sync).toEqual({ schedule: '*/5 * * * *', lookbackSeconds: 120 });
    expect(config.provet?.auth).toEqual({
      kind: 'oauth',
      clientId: 'id',
      clientSecret: 's3cret-value',
      tokenUrl: 'https://provetcloud.com/1234/oauth2/token/',
    });
    expect(config.provet?.pageSize).toBe(1000);
  });

  it('lists every problem at once, without echoing secrets', () => {
    const problems = problemsOf({
      PROVET_BASE_URL: 'not a url',
      PROVET_API_TOKEN: 'tok-secret',
      SYNC_SCHEDULE: 'every five minutes',
      SYNC_LOOKBACK_SECONDS: '-1',
      PROVET_DB_SCHEMA: 'Robert"); DROP',
      DATABASE_URL: 'mysql://root:pw-secret@db/x',
      LOG_LEVEL: 'loud',
    });
    expect(problems.map((p) => p.split(':')[0])).toEqual(
      expect.arrayContaining(['PROVET_BASE_URL', 'SYNC_SCHEDULE', 'SYNC_LOOKBACK_SECONDS', 'PROVET_DB_SCHEMA', 'DATABASE_URL', 'LOG_LEVEL']),
    );
    expect(problems.join('\n')).not.toMatch(/tok-secret|pw-secret/);
  });

  it('requires Provet settings only for commands that talk to Provet', () => {
    expect(problemsOf({}, false)).toEqual([]);
    expect(problemsOf({}, true).join('\n')).toMatch(/PROVET_BASE_URL: required/);
    expect(problemsOf({ PROVET_BASE_URL: oauth.PROVET_BASE_URL }, true).join('\n')).toMatch(/credentials/);
    expect(problemsOf({ ...oauth, PROVET_API_TOKEN: 't' }).join('\n')).toMatch(/choose one way/);
    expect(problemsOf({ PROVET_BASE_URL: oauth.PROVET_BASE_URL, PROVET_CLIENT_ID: 'id' }).join('\n')).toMatch(/PROVET_CLIENT_SECRET: required/);
  });

  it('reads NAME_FILE secrets and refuses NAME and NAME_FILE together', () => {
    const dir = mkdtempSync(join(tmpdir(), 'provet-sync-config-'));
    const file = join(dir, 'secret');
    writeFileSync(file, 'from-file\n');
    const config = loadConfig({ ...oauth, PROVET_CLIENT_SECRET: '', PROVET_CLIENT_SECRET_FILE: file }, { needsProvet: true });
    expect(config.provet?.auth).toMatchObject({ clientSecret: 'from-file' });
    expect(problemsOf({ ...oauth, PROVET_CLIENT_SECRET_FILE: file })).toEqual([
      'PROVET_CLIENT_SECRET and PROVET_CLIENT_SECRET_FILE are both set; set only one',
    ]);
    expect(problemsOf({ ...oauth, PROVET_CLIENT_SECRET: '', PROVET_CLIENT_SECRET_FILE: join(dir, 'missing') })[0]).toMatch(
      /PROVET_CLIENT_SECRET_FILE: cannot read .*ENOENT/,
    );
  });

  it('legacy token auth, trailing slash added, token URL override', () => {
    const config = loadConfig(
      { PROVET_BASE_URL: 'https://us.provetcloud.com/77/api/0.1', PROVET_API_TOKEN: 'legacy' },
      { needsProvet: true },
    );
    expect(config.provet).toMatchObject({ baseUrl: 'https://us.provetcloud.com/77/api/0.1/', auth: { kind: 'token', token: 'legacy' } });
    expect(deriveTokenUrl('https://host/9/api/0.1/')).toBe('https://host/9/oauth2/token/');
    expect(deriveTokenUrl('https://host/other/')).toBeUndefined();
    expect(problemsOf({ ...oauth, PROVET_BASE_URL: 'https://host/custom/' }).join('\n')).toMatch(/PROVET_TOKEN_URL: required/);
  });
});
