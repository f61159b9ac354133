/**
 * How operator failures become the `error` text of a component or session: one line,
 * `<service or error kind>: <message>`, never a token (docs/operators.md, "Error texts").
 */
import { describeError } from '../clients/http.js';
import { ServiceError } from '../clients/types.js';

/**
 * An error whose message is already the complete text to record (for example
 * `Error encountered setting CFS information: cfs: ...`). `service` names the failed service for
 * metrics.
 */
export class OperatorError extends Error {
  readonly service: string;
  constructor(message: string, opts: { service?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'OperatorError';
    this.service = opts.service ?? errorService(opts.cause);
  }
}

/** Wrap a failure with a fixed prefix: `<prefix><service>: <message><suffix>`. */
export function wrapError(prefix: string, err: unknown, suffix = ''): OperatorError {
  return new OperatorError(`${prefix}${errorText(err)}${suffix}`, { cause: err });
}

/** The text recorded for a failure. */
export function errorText(err: unknown): string {
  if (err instanceof OperatorError || isVerbatim(err)) return oneLine((err as Error).message);
  return describeError(err);
}

/** The service a failure came from (`bos`, `pcs`, ...), or `internal` when none did. */
export function errorService(err: unknown): string {
  if (err instanceof OperatorError) return err.service;
  if (err instanceof ServiceError) return err.service;
  if (err instanceof Error && err.cause !== undefined && err.cause !== err) return errorService(err.cause);
  return 'internal';
}

/** Errors that carry `verbatim: true` are recorded with their message only (fixed upstream texts). */
function isVerbatim(err: unknown): boolean {
  return err instanceof Error && (err as Error & { verbatim?: unknown }).verbatim === true;
}

function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
