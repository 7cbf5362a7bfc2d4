import createClient from 'openapi-fetch';
import { ApiError } from './problem';
import type { paths } from './schema';
import { session } from './session';

/** The typed API client: every path, parameter and body checked against the API's own OpenAPI document. */
export const api = createClient<paths>({ baseUrl: '' });

api.use({
  onRequest({ request }) {
    const token = session.token();
    if (token) request.headers.set('authorization', `Bearer ${token}`);
    return request;
  },
});

/** The body of a successful answer, or an ApiError carrying the problem. */
export async function must<Data>(call: Promise<{ data?: Data; error?: unknown; response: Response }>): Promise<Data> {
  let result: { data?: Data; error?: unknown; response: Response };
  try {
    result = await call;
  } catch (error) {
    throw new ApiError(0, { title: 'The API cannot be reached', detail: error instanceof Error ? error.message : '' });
  }
  if (result.error !== undefined || result.data === undefined) throw new ApiError(result.response.status, result.error);
  return result.data;
}
