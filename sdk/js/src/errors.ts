/** Typed errors: one class per router rejection class, carrying the router's message (as the Python SDK). */

export class Ax0nError extends Error {
  /** HTTP status of the router's answer (0 when the router could not be reached). */
  readonly status: number;
  /** The router's gRPC status name, e.g. `FAILED_PRECONDITION`. */
  readonly code: string;
  /** Seconds to wait before retrying, from `Retry-After` (429). */
  readonly retryAfter?: number;

  constructor(message: string, status = 0, code = "", retryAfter?: number) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export class AuthenticationError extends Ax0nError {}
export class InvalidRequestError extends Ax0nError {}
export class PreconditionError extends Ax0nError {}
export class NotFoundError extends Ax0nError {}
export class ReplayError extends Ax0nError {}
export class OverloadedError extends Ax0nError {}
export class UnavailableError extends Ax0nError {}
export class Ax0nTimeoutError extends Ax0nError {}

const BY_CODE: Record<string, typeof Ax0nError> = {
  UNAUTHENTICATED: AuthenticationError,
  INVALID_ARGUMENT: InvalidRequestError,
  FAILED_PRECONDITION: PreconditionError,
  NOT_FOUND: NotFoundError,
  ALREADY_EXISTS: ReplayError,
  RESOURCE_EXHAUSTED: OverloadedError,
  UNAVAILABLE: UnavailableError,
  DEADLINE_EXCEEDED: Ax0nTimeoutError,
};

/** The typed error for a router error body `{"error": {"message", "code"}}`. */
export function errorFrom(status: number, body: unknown, retryAfter?: string | null): Ax0nError {
  const err = (body as { error?: { message?: string; code?: string } } | null)?.error ?? {};
  const code = err.code ?? "";
  const Cls = BY_CODE[code] ?? Ax0nError;
  const retry = retryAfter ? Number(retryAfter) : undefined;
  return new Cls(err.message ?? `router answered HTTP ${status}`, status, code, retry);
}
