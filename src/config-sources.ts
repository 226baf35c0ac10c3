// The text of each setting as given: from NAME in the environment, or from the file NAME_FILE names
// (the container secrets convention; setting both is an error). Nothing is parsed here, and a
// file that cannot be read is noted as a problem rather than thrown, so loadConfig (config.ts)
// can report it with every other problem at once.
import { readFileSync } from 'node:fs';
import { SETTING_NAMES, type SettingName } from './config-schema.js';

export type Env = Record<string, string | undefined>;

interface RawSettings {
  /** The text of every setting that was set, from NAME or from the file NAME_FILE names. */
  text: Partial<Record<SettingName, string>>;
  /** Settings whose text came from a file: messages say so. */
  fromFile: Set<SettingName>;
  /** Settings that were given but cannot be used (a file that cannot be read, NAME and NAME_FILE both), with the problem. */
  unusable: Map<SettingName, string>;
}

const FILE_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
};

/** Reads NAME or NAME_FILE for every setting; a problem with a file is kept in `unusable`, not thrown. */
export function readRawSettings(env: Env): RawSettings {
  const raw: RawSettings = { text: {}, fromFile: new Set(), unusable: new Map() };
  for (const name of SETTING_NAMES) {
    const direct = env[name] || undefined; // set to nothing: unset
    const file = env[`${name}_FILE`] || undefined;
    if (direct !== undefined && file !== undefined) {
      raw.unusable.set(name, `${name} and ${name}_FILE are both set; set only one`);
    } else if (file !== undefined) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8').trim();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        raw.unusable.set(
          name,
          `${name}_FILE: expected a readable file holding ${name}, got ${file}, which cannot be read (${code}: ${FILE_ERRORS[code] ?? (err as Error).message})`,
        );
        continue;
      }
      if (text === '') {
        raw.unusable.set(name, `${name}_FILE: expected a file holding ${name}, got ${file}, which is empty`);
        continue;
      }
      raw.text[name] = text;
      raw.fromFile.add(name);
    } else if (direct !== undefined) {
      raw.text[name] = direct;
    }
  }
  return raw;
}
