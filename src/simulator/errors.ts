// Errors that carry an HTTP answer, so the in-process API and the HTTP routes fail alike.

/** DRF-style field errors: `{ "email": ["Enter a valid email address."] }`. */
export type FieldErrors = Record<string, unknown>;

export class ValidationError extends Error {
  readonly status = 400;
  constructor(readonly errors: FieldErrors) {
    super(`invalid input: ${JSON.stringify(errors)}`);
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends Error {
  readonly status = 404;
  constructor(what: string) {
    super(`${what} not found`);
    this.name = 'NotFoundError';
  }
}
