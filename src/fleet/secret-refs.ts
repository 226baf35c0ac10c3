// The registry keeps secrets by reference: a file's path or an environment variable's name. This
// reads one, in the process that needs it (a worker), with a message that names the reference and
// never the secret.
import { readFile } from 'node:fs/promises';

export class CredentialsUnavailableError extends Error {
  readonly code = 'FLEET_CREDENTIALS_UNAVAILABLE';
}

/** The secret `file` holds (trimmed), else the value of the variable `env`; `what` names it in errors. */
export async function readSecretRef(file: string | null, env: string | null, what: string): Promise<string> {
  if (file !== null) {
    let text: string;
    try {
      text = (await readFile(file, 'utf8')).trim();
    } catch (err) {
      throw new CredentialsUnavailableError(
        `${what} file ${file} cannot be read by this worker (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    if (!text) throw new CredentialsUnavailableError(`${what} file ${file} is empty`);
    return text;
  }
  const value = env === null ? undefined : process.env[env];
  if (!value) throw new CredentialsUnavailableError(`${what} variable ${env} is not set in this worker`);
  return value;
}
