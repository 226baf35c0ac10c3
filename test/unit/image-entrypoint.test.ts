// The Docker image's ENTRYPOINT as the benchmark (its node flags) and .ci/container-commands.sh read it.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { imageEntrypoint, imageNodeFlags } from '../../bench/lib/image-entrypoint.js';

describe('the image ENTRYPOINT, as the benchmark and CI read it', () => {
  it("reads the flags between node and dist/cli.js from the project's Dockerfile", () => {
    expect(imageNodeFlags(readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8'))).toEqual([
      '--max-semi-space-size=4',
    ]);
    expect(imageNodeFlags('FROM x\nENTRYPOINT ["node", "dist/cli.js"]\nCMD ["daemon"]\n')).toEqual([]);
    expect(imageEntrypoint('ENTRYPOINT ["node", "--a", "dist/cli.js"]\n')).toEqual(['node', '--a', 'dist/cli.js']);
  });

  it('refuses an ENTRYPOINT of another shape, naming what it found', () => {
    expect(() => imageNodeFlags('ENTRYPOINT node dist/cli.js\n')).toThrow(
      /expected ENTRYPOINT \["node", \.\.\.flags, "dist\/cli\.js"\], found none/,
    );
    expect(() => imageNodeFlags('ENTRYPOINT ["node", "other.js"]\n')).toThrow(/found \["node", "other.js"\]/);
    expect(() => imageNodeFlags('CMD ["daemon"]\n')).toThrow(/found none/);
    expect(() => imageEntrypoint('ENTRYPOINT ["node", 4, "dist/cli.js"]\n')).toThrow(
      /found \["node", 4, "dist\/cli.js"\]/,
    );
  });
});
