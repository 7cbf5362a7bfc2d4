/** An API refusal: the RFC 9457 problem the API answered, or a stand-in when there was none. */
export interface Problem {
  status: number;
  title: string;
  detail: string;
  errors?: { field: string; message: string }[];
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;

  constructor(status: number, body: unknown) {
    const problem = toProblem(status, body);
    super(problem.detail || problem.title);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }

  /**
   * The API's message for one field of the request body, named as the forms name their inputs
   * (`content`, `prices.0.amount`); the API names it `body/content`, `body/prices/0/amount`.
   */
  fieldError(field: string): string | undefined {
    const errors = this.problem.errors ?? [];
    // An item of a list field (`reminderDays.0`) is shown beside the list's one input.
    return (errors.find((error) => bodyField(error.field) === field) ?? errors.find((error) => bodyField(error.field).startsWith(`${field}.`)))?.message;
  }
}

const bodyField = (path: string): string => path.replace(/^body\//, '').replaceAll('/', '.');

function toProblem(status: number, body: unknown): Problem {
  if (typeof body === 'object' && body !== null && 'title' in body) {
    const { title, detail, errors } = body as Partial<Problem>;
    return { status, title: String(title), detail: typeof detail === 'string' ? detail : '', ...(Array.isArray(errors) ? { errors } : {}) };
  }
  return { status, title: status === 0 ? 'The API cannot be reached' : `HTTP ${status}`, detail: '' };
}

/** The field's message when `error` is an API refusal naming it. */
export const fieldError = (error: unknown, field: string): string | undefined => (error instanceof ApiError ? error.fieldError(field) : undefined);

/** A sentence for any error, for alerts. */
export const messageOf = (error: unknown): string =>
  error instanceof ApiError ? [error.problem.title, error.problem.detail].filter(Boolean).join(': ') : error instanceof Error ? error.message : String(error);
