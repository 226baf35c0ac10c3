// The benchmark measures the sync with the node flags of the Docker image's ENTRYPOINT.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { imageNodeFlags } from '../../bench/lib/sync-process.js';

describe('imageNodeFlags', () => {
  it("reads the flags between node and dist/cli.js from the project's Dockerfile", () => {
    expect(imageNodeFlags(readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8'))).toEqual(['--max-semi-space-size=4']);
    expect(imageNodeFlags('FROM x\nENTRYPOINT ["node", "dist/cli.js"]\nCMD ["daemon"]\n')).toEqual([]);
  });

  it('refuses an ENTRYPOINT of another shape, naming what it found', () => {
    expect(() => imageNodeFlags('ENTRYPOINT node dist/cli.js\n')).toThrow(/expected ENTRYPOINT \["node", \.\.\.flags, "dist\/cli\.js"\], found none/);
    expect(() => imageNodeFlags('ENTRYPOINT ["node", "other.js"]\n')).toThrow(/found \["node", "other.js"\]/);
    expect(() => imageNodeFlags('CMD ["daemon"]\n')).toThrow(/found none/);
  });
});
