import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, deriveTokenUrl, loadConfig } from '../../src/config.js';
import { SECRET_SETTINGS, SETTING_NAMES } from '../../src/config-schema.js';

const oauth = {
  PROVET_BASE_URL: 'https://provetcloud.com/1234/api/0.1/',
  PROVET_CLIENT_ID: 'id',
  PROVET_CLIENT_SECRET: 's3cret-value',
};

function problemsOf(env: Record<string, string>, needsProvet = true, command?: string): string[] {
  try {
    loadConfig(env, { needsProvet, command });
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
      expect.arrayContaining([
        'PROVET_BASE_URL',
        'SYNC_SCHEDULE',
        'SYNC_LOOKBACK_SECONDS',
        'PROVET_DB_SCHEMA',
        'DATABASE_URL',
        'LOG_LEVEL',
      ]),
    );
    expect(problems.join('\n')).not.toMatch(/tok-secret|pw-secret/);
  });

  it('requires Provet settings only for commands that talk to Provet', () => {
    expect(problemsOf({}, false)).toEqual([]);
    expect(problemsOf({}, true).join('\n')).toMatch(/PROVET_BASE_URL: required/);
    expect(problemsOf({ PROVET_BASE_URL: oauth.PROVET_BASE_URL }, true).join('\n')).toMatch(/credentials/);
    expect(problemsOf({ ...oauth, PROVET_API_TOKEN: 't' }).join('\n')).toMatch(/choose one way/);
    expect(problemsOf({ PROVET_BASE_URL: oauth.PROVET_BASE_URL, PROVET_CLIENT_ID: 'id' }).join('\n')).toMatch(
      /PROVET_CLIENT_SECRET: required/,
    );
  });

  it('reads NAME_FILE secrets and refuses NAME and NAME_FILE together', () => {
    const dir = mkdtempSync(join(tmpdir(), 'provet-sync-config-'));
    const file = join(dir, 'secret');
    writeFileSync(file, 'from-file\n');
    const config = loadConfig(
      { ...oauth, PROVET_CLIENT_SECRET: '', PROVET_CLIENT_SECRET_FILE: file },
      { needsProvet: true },
    );
    expect(config.provet?.auth).toMatchObject({ clientSecret: 'from-file' });
    expect(problemsOf({ ...oauth, PROVET_CLIENT_SECRET_FILE: file })).toEqual([
      'PROVET_CLIENT_SECRET and PROVET_CLIENT_SECRET_FILE are both set; set only one',
    ]);
    expect(problemsOf({ ...oauth, PROVET_CLIENT_SECRET: '', PROVET_CLIENT_SECRET_FILE: join(dir, 'missing') })).toEqual(
      [
        `PROVET_CLIENT_SECRET_FILE: expected a readable file holding PROVET_CLIENT_SECRET, got ${join(dir, 'missing')}, which cannot be read (ENOENT: no such file)`,
      ],
    );
  });

  it('legacy token auth, trailing slash added, token URL override', () => {
    const config = loadConfig(
      { PROVET_BASE_URL: 'https://us.provetcloud.com/77/api/0.1', PROVET_API_TOKEN: 'legacy' },
      { needsProvet: true },
    );
    expect(config.provet).toMatchObject({
      baseUrl: 'https://us.provetcloud.com/77/api/0.1/',
      auth: { kind: 'token', token: 'legacy' },
    });
    expect(deriveTokenUrl('https://host/9/api/0.1/')).toBe('https://host/9/oauth2/token/');
    expect(deriveTokenUrl('https://host/other/')).toBeUndefined();
    expect(problemsOf({ ...oauth, PROVET_BASE_URL: 'https://host/custom/' }).join('\n')).toMatch(
      /PROVET_TOKEN_URL: required/,
    );
  });
});

describe('configuration problems', () => {
  it('lists a wrong value and a missing setting together', () => {
    expect(problemsOf({ SYNC_LOOKBACK_SECONDS: 'soon' }, true, 'sync')).toEqual([
      'SYNC_LOOKBACK_SECONDS: expected a whole number of seconds from 0 to 604800 (7 days), got "soon"',
      "PROVET_BASE_URL: required by 'sync' but not set; expected the Provet API root, e.g. https://provetcloud.com/1234/api/0.1/",
      "credentials: required by 'sync' but none is set; expected PROVET_CLIENT_ID and PROVET_CLIENT_SECRET (OAuth2), or PROVET_API_TOKEN (legacy static key)",
    ]);
  });

  // One setting of each kind, with a wrong value: the message names it, says what is expected in
  // plain words, and what it got.
  it.each([
    [
      'whole number of seconds',
      'SYNC_LOOKBACK_SECONDS',
      '-1',
      'SYNC_LOOKBACK_SECONDS: expected a whole number of seconds from 0 to 604800 (7 days), got "-1"',
    ],
    [
      'whole number of a unit',
      'PROVET_PAGE_SIZE',
      '1000.5',
      'PROVET_PAGE_SIZE: expected a whole number of records from 1 to 1000, got "1000.5"',
    ],
    ['port', 'HTTP_PORT', '99999', 'HTTP_PORT: expected a whole number from 0 to 65535, got "99999"'],
    [
      'seconds above zero',
      'PROVET_REQUEST_TIMEOUT_SECONDS',
      '0',
      'PROVET_REQUEST_TIMEOUT_SECONDS: expected a number of seconds greater than 0 and at most 600 (10 minutes), got "0"',
    ],
    [
      'seconds from zero',
      'WEBHOOK_DEBOUNCE_SECONDS',
      'two',
      'WEBHOOK_DEBOUNCE_SECONDS: expected a number of seconds from 0 to 300 (5 minutes), got "two"',
    ],
    [
      'URL',
      'PROVET_BASE_URL',
      'ftp://nowhere',
      'PROVET_BASE_URL: expected an http:// or https:// URL (the Provet API root, e.g. https://provetcloud.com/1234/api/0.1/), got "ftp://nowhere"',
    ],
    [
      'cron',
      'SYNC_SCHEDULE',
      'every five minutes',
      'SYNC_SCHEDULE: expected a cron expression of 5 fields (or 6, seconds first), e.g. "*/5 * * * *", got "every five minutes"',
    ],
    [
      'cron or off',
      'RECONCILE_SCHEDULE',
      'nightly',
      `RECONCILE_SCHEDULE: expected a cron expression of 5 fields (or 6, seconds first), e.g. "*/5 * * * *", or 'off', got "nightly"`,
    ],
    [
      'one of a list',
      'LOG_LEVEL',
      'loud',
      'LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ],
    ['one of a list', 'LOG_FORMAT', 'yaml', 'LOG_FORMAT: expected one of json, pretty, got "yaml"'],
    [
      'identifier',
      'PROVET_DB_SCHEMA',
      'Bad-Name',
      'PROVET_DB_SCHEMA: expected a lower-case SQL identifier: letters a-z, digits and _, not starting with a digit, at most 63 characters, got "Bad-Name"',
    ],
    [
      'secret',
      'DATABASE_URL',
      'mysql://root:pw-secret@db/x',
      'DATABASE_URL: expected a postgres:// or postgresql:// connection string, got a value that is not shown (a secret)',
    ],
    [
      'secret',
      'WEBHOOK_SECRET',
      'short-secret',
      'WEBHOOK_SECRET: expected 24 to 256 URL-safe characters (letters, digits, . _ ~ -), got a value that is not shown (a secret)',
    ],
  ])('%s: %s', (_kind, name, value, message) => {
    expect(problemsOf({ ...oauth, [name]: value })).toEqual([message]);
  });

  it('names the file a wrong value came from, and never shows a secret read from one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'provet-sync-config-'));
    writeFileSync(join(dir, 'lookback'), 'soon\n');
    writeFileSync(join(dir, 'db'), 'mysql://root:pw-secret@db/x\n');
    writeFileSync(join(dir, 'empty'), '\n');
    expect(
      problemsOf({
        ...oauth,
        SYNC_LOOKBACK_SECONDS_FILE: join(dir, 'lookback'),
        DATABASE_URL_FILE: join(dir, 'db'),
        PROVET_API_TOKEN_FILE: join(dir, 'empty'),
      }),
    ).toEqual([
      `PROVET_API_TOKEN_FILE: expected a file holding PROVET_API_TOKEN, got ${join(dir, 'empty')}, which is empty`,
      'DATABASE_URL: expected a postgres:// or postgresql:// connection string, got a value that is not shown (a secret) (read from DATABASE_URL_FILE)',
      'SYNC_LOOKBACK_SECONDS: expected a whole number of seconds from 0 to 604800 (7 days), got "soon" (read from SYNC_LOOKBACK_SECONDS_FILE)',
      // The token file was given, so the message is about it, not about a missing token; and the
      // client credentials were given too.
      'PROVET_API_TOKEN and PROVET_CLIENT_ID/PROVET_CLIENT_SECRET are both set; choose one way to authenticate',
    ]);
  });

  it('reports a secret whose file cannot be read, not a missing secret', () => {
    const { PROVET_CLIENT_SECRET: _, ...withoutSecret } = oauth;
    expect(problemsOf({ ...withoutSecret, PROVET_CLIENT_SECRET_FILE: '/nonexistent/secret' }, true, 'sync')).toEqual([
      'PROVET_CLIENT_SECRET_FILE: expected a readable file holding PROVET_CLIENT_SECRET, got /nonexistent/secret, which cannot be read (ENOENT: no such file)',
    ]);
  });

  it('says for every setting, in plain words, what it expects, and shows no secret', () => {
    // Values wrong for most settings; those that take any text (a host, a folder, a client id) accept them.
    for (const value of ['soon', '-1', '1e3', '0x10', ' ']) {
      for (const name of SETTING_NAMES) {
        // (Problems of combinations, such as a token beside client credentials, are checked above.)
        const problems = problemsOf({ ...oauth, [name]: value }).filter((p) => p.startsWith(`${name}:`));
        if (problems.length === 0) continue;
        expect(problems).toHaveLength(1);
        const [problem] = problems;
        const got = (SECRET_SETTINGS as readonly string[]).includes(name)
          ? 'a value that is not shown \\(a secret\\)'
          : JSON.stringify(value);
        expect(problem).toMatch(new RegExp(`^${name}: expected [a-z0-9<].+, got ${got.replace(/[+]/g, '\\$&')}$`));
        // zod's own wording ("expected number, received NaN", "Invalid input") never reaches a person.
        expect(problem).not.toMatch(/received|NaN|Invalid|Too (small|big)/);
      }
    }
  });
});

describe('WEBHOOK_MAX_REFETCHES_PER_MINUTE', () => {
  const webhooks = { ...oauth, WEBHOOK_SECRET: 'wh-config-secret-0123456789abcdef' };

  it('defaults to 120, well under the per-record budgets, and takes 1 to 500', () => {
    expect(loadConfig(webhooks, { needsProvet: true }).daemon.webhook?.maxRefetchesPerMinute).toBe(120);
    expect(
      loadConfig({ ...webhooks, WEBHOOK_MAX_REFETCHES_PER_MINUTE: '500' }, { needsProvet: true }).daemon.webhook
        ?.maxRefetchesPerMinute,
    ).toBe(500);
    for (const value of ['0', '501', '60.5']) {
      expect(problemsOf({ ...webhooks, WEBHOOK_MAX_REFETCHES_PER_MINUTE: value })).toEqual([
        `WEBHOOK_MAX_REFETCHES_PER_MINUTE: expected a whole number of re-fetches from 1 to 500, got "${value}"`,
      ]);
    }
  });
});
