// The Docker image's ENTRYPOINT, read from the Dockerfile: the benchmark measures the sync with
// its node flags, and .ci/container-commands.sh runs the image's command lines with it.
// Run as a script, it prints the ENTRYPOINT's words one per line.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DOCKERFILE = fileURLToPath(new URL('../../Dockerfile', import.meta.url));

/** The exec-form ENTRYPOINT's words, checked to be `node`, flags, `dist/cli.js`. */
export function imageEntrypoint(dockerfile = readFileSync(DOCKERFILE, 'utf8')): string[] {
  const line = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile)?.[1];
  const words: unknown = line === undefined ? undefined : JSON.parse(line);
  if (
    !Array.isArray(words) ||
    words[0] !== 'node' ||
    words.at(-1) !== 'dist/cli.js' ||
    words.some((w) => typeof w !== 'string' || w.includes('\n'))
  ) {
    throw new Error(`Dockerfile: expected ENTRYPOINT ["node", ...flags, "dist/cli.js"], found ${line ?? 'none'}`);
  }
  return words as string[];
}

/** The flags between `node` and `dist/cli.js`. */
export function imageNodeFlags(dockerfile?: string): string[] {
  return imageEntrypoint(dockerfile).slice(1, -1);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.log(imageEntrypoint().join('\n'));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}
