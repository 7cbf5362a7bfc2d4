import { ApiError } from '../api/problem';

type Result<T> = { data?: T; error?: unknown; response: Response };

async function settle<T>(call: Promise<Result<T>>): Promise<Result<T>> {
  let result: Result<T>;
  try {
    result = await call;
  } catch (error) {
    throw new ApiError(0, { title: 'The API cannot be reached', detail: error instanceof Error ? error.message : '' });
  }
  if (result.error !== undefined || !result.response.ok) throw new ApiError(result.response.status, result.error);
  return result;
}

/** The body of a successful portal answer, or an ApiError carrying the problem (as api/client's must). */
export async function portalMust<T>(call: Promise<Result<T>>): Promise<T> {
  const result = await settle(call);
  if (result.data === undefined) throw new ApiError(result.response.status, null);
  return result.data;
}

/** A successful answer with no body (204: deletes, password change, 2FA off). */
export async function portalDone(call: Promise<Result<unknown>>): Promise<void> {
  await settle(call);
}
