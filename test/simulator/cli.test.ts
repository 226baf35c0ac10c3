import { describe, expect, it } from 'vitest';
import { runSimulateCommand } from '../../src/simulator/cli.js';

function capture(): { write(text: string): boolean; text(): string } {
  let out = '';
  return {
    write(text: string) {
      out += text;
      return true;
    },
    text: () => out,
  };
}

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
}

describe('provet-sync simulate', () => {
  it('serves until stopped, printing the URLs, credentials and environment to use', async () => {
    const stdout = capture();
    const stop = new AbortController();
    const running = runSimulateCommand(
      [
        '--clients',
        '25',
        '--seed',
        '3',
        '--port',
        '0',
        '--provet-id',
        '77',
        '--client-id',
        'cli-id',
        '--client-secret',
        'cli-secret',
        '--no-rate-limit',
      ],
      { stdout, signal: stop.signal },
    );
    await waitFor(() => stdout.text().includes('Serving until'));
    const out = stdout.text();
    const base = /export PROVET_BASE_URL=(\S+)/.exec(out)?.[1];
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/77\/api\/0\.1\/$/);
    expect(out).toContain('export PROVET_CLIENT_ID=cli-id');
    expect(out).toContain('export PROVET_CLIENT_SECRET=cli-secret');
    const tokenUrl = /Token URL:\s+(\S+)/.exec(out)?.[1];
    expect(tokenUrl).toBe(base!.replace('api/0.1/', 'oauth2/token/'));

    const tokenRes = await fetch(tokenUrl!, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&client_id=cli-id&client_secret=cli-secret',
    });
    const { access_token } = (await tokenRes.json()) as { access_token: string };
    const page = await fetch(`${base}client/`, { headers: { Authorization: `Bearer ${access_token}` } });
    expect(page.status).toBe(200);
    expect(((await page.json()) as { count: number }).count).toBeGreaterThan(20);

    stop.abort();
    await running;
    expect(stdout.text()).toContain('Simulator stopped.');
    await expect(fetch(`${base}client/`)).rejects.toThrow();
  });

  it('applies the documented rate limits by default', async () => {
    const stdout = capture();
    const stop = new AbortController();
    const running = runSimulateCommand(['--clients', '5', '--port', '0', '--rate-window-ms', '5000'], {
      stdout,
      signal: stop.signal,
    });
    await waitFor(() => stdout.text().includes('Serving until'));
    expect(stdout.text()).toMatch(/Rate limits:\s+Provet's documented limits per 5000 ms window/);
    expect(stdout.text()).toContain('export PROVET_RATE_WINDOW_SECONDS=5');
    const base = /export PROVET_BASE_URL=(\S+)/.exec(stdout.text())![1]!;
    const tokenRes = await fetch(base.replace('api/0.1/', 'oauth2/token/'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&client_id=provet-sync-demo&client_secret=demo-secret',
    });
    const { access_token } = (await tokenRes.json()) as { access_token: string };
    const statuses: number[] = [];
    // client/ allows 125 per window: page_size=1000 costs 20, so the seventh is refused.
    for (let i = 0; i < 7; i++) {
      statuses.push(
        (await fetch(`${base}client/?page_size=1000`, { headers: { Authorization: `Bearer ${access_token}` } })).status,
      );
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429]);
    stop.abort();
    await running;
  });

  it('prints usage for --help', async () => {
    const stdout = capture();
    await runSimulateCommand(['--help'], { stdout });
    expect(stdout.text()).toContain('Usage: provet-sync simulate');
    expect(stdout.text()).toContain('--no-rate-limit');
  });

  it('rejects bad values with a clear message and exit code 2', async () => {
    for (const argv of [['--clients', 'many'], ['--port', '70000'], ['--utc-offset', '2h'], ['--bogus'], ['--seed']]) {
      const stderr = capture();
      const codes: number[] = [];
      await runSimulateCommand(argv, { stderr, exit: (code) => codes.push(code) });
      expect(codes, argv.join(' ')).toEqual([2]);
      expect(stderr.text()).toMatch(/^provet-sync simulate: .+/);
    }
    const stderr = capture();
    await runSimulateCommand(['--clients', 'many'], { stderr, exit: () => undefined });
    expect(stderr.text()).toContain('--clients must be an integer from 0 to 5000000, got "many"');
  });
});
