// A response body read into what the caller asked for: its JSON (records through the caller's
// decoder as they are parsed) and, for a list page, the strictly checked envelope around them.
// A body that is not JSON is a retryable PROVET_BAD_PAGE, since a truncated transfer is usually
// transient; a well-formed body with a wrong envelope is not retried.
import { ProvetApiError, safeUrl, where } from './errors.js';
import { parseEnvelope, type PageResult } from './pages.js';
import { DecoderFailedError, parseBodyInSlices, type RecordDecoder } from './raw-records.js';
import type { RawResponse } from './transport.js';

/** A response's JSON; `decoded` when its `results` went through the request's decoder. */
export interface ParsedResponse {
  body: unknown;
  decoded: boolean;
  serverDate: Date | null;
}

/** Which request a body answers, for messages, and the decoder its records go through. */
export interface ResponseContext {
  endpoint: string;
  page?: number;
  /** For list pages read with a decoder: each record goes through it as soon as it is parsed. */
  decodeRecord?: RecordDecoder<unknown>;
}

/** The body's JSON; a decoder's own error is thrown as it is, any other failure as PROVET_BAD_PAGE. */
export async function parseResponse(res: RawResponse, url: URL, ctx: ResponseContext): Promise<ParsedResponse> {
  try {
    const { value, decoded } = await parseBodyInSlices(res.body, ctx.decodeRecord);
    return { body: value, decoded, serverDate: res.serverDate };
  } catch (cause) {
    if (cause instanceof DecoderFailedError) throw cause.error;
    throw new ProvetApiError(
      'PROVET_BAD_PAGE',
      `${where(ctx.endpoint, ctx.page)}: response is not valid JSON (${res.body.length} bytes)`,
      {
        retryable: true,
        endpoint: ctx.endpoint,
        ...(ctx.page === undefined ? {} : { page: ctx.page }),
        url: safeUrl(url),
        status: res.status,
        cause,
      },
    );
  }
}

/** A parsed list page, its envelope checked; records not yet through `decodeRecord` go through it here. */
export function toPageResult(
  { body, decoded, serverDate }: ParsedResponse,
  url: URL,
  endpoint: string,
  page: number,
  decodeRecord?: RecordDecoder<unknown>,
): PageResult {
  const envelope = parseEnvelope(body, endpoint, page, safeUrl(url));
  // Records the scan could not tell apart were parsed with the whole body: decoded here, without their bytes.
  const records =
    decodeRecord && !decoded ? envelope.results.map((record) => decodeRecord(record, undefined)) : envelope.results;
  return {
    endpoint,
    page,
    url: safeUrl(url),
    count: envelope.count,
    numPages: envelope.num_pages,
    next: envelope.next,
    records,
    serverDate,
  };
}
