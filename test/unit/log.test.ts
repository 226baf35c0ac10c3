// The command logger's two formats, written to a real file descriptor: JSON lines for collectors,
// readable lines for a person; secrets redacted in both, every line on disk as soon as it is logged.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCommandLogger } from '../../src/log.js';

const dir = mkdtempSync(join(tmpdir(), 'provet-sync-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function logTo(name: string, format: 'json' | 'pretty' | undefined): Promise<string> {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  try {
    const logger = await createCommandLogger('info', { fd, format });
    logger.debug('not at this level');
    logger.info(
      {
        password: 'canary-pw',
        provet: { clientSecret: 'canary-cs' },
        headers: { authorization: 'Token canary-tok' },
        page: 3,
      },
      'page landed',
    );
    logger.child({ component: 'provet' }).warn({ token: 'canary-token' }, 'throttled');
    // Read before anything closes or flushes: the writes are synchronous.
    return readFileSync(path, 'utf8');
  } finally {
    closeSync(fd);
  }
}

describe('createCommandLogger', () => {
  it('writes JSON lines when the stream is not a terminal and no format is set', async () => {
    const text = await logTo('auto.log', undefined);
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toMatchObject([
      { level: 30, msg: 'page landed', page: 3, password: '[redacted]', service: 'provet-sync' },
      { level: 40, msg: 'throttled', component: 'provet', token: '[redacted]' },
    ]);
    expect(text).not.toMatch(/canary/);
  });

  it('writes readable lines when asked for pretty, secrets redacted all the same', async () => {
    const text = await logTo('pretty.log', 'pretty');
    const lines = text.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: page landed \{.*"page":3/);
    expect(lines[1]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: throttled \{.*"component":"provet"/);
    expect(text).toMatch(/"password":"\[redacted\]"/);
    expect(text).not.toMatch(/canary|"level"|service/);
  });

  it('writes JSON when asked for it', async () => {
    const text = await logTo('json.log', 'json');
    expect(JSON.parse(text.split('\n')[0]!)).toMatchObject({ msg: 'page landed' });
  });
});
