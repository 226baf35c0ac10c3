// Provet answers a filter it does not understand with the whole collection, so a read that
// depends on a filter checks what comes back: a record outside the filter means it was ignored.
// The caller then switches to a fallback whose cost is bounded by what it asked for, not by the
// size of the list, and warns once per process (the API client remembers the finding).

export class IgnoredFilterError extends Error {
  readonly code = 'PROVET_FILTER_IGNORED';
  constructor(
    readonly path: string,
    readonly filter: string,
    message: string,
  ) {
    super(message);
  }
}
