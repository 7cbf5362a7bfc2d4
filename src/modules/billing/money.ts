/**
 * Invoice arithmetic in integer minor units (never floats): tax per line, rounded half away from
 * zero, and totals that are exact sums of the lines. BigInt inside, so quantity × price × rate
 * cannot lose precision; results must fit PostgreSQL's integer.
 */

const BPS = 10_000n;
const MAX_INT = 2_147_483_647;

export interface LineInput {
  readonly quantity: number;
  /** Per unit; includes the tax when `inclusive`. */
  readonly unitAmount: number;
  /** Hundredths of a percent (2000 = 20 %). */
  readonly rateBps: number;
  readonly inclusive: boolean;
}

export interface LineAmounts {
  readonly netAmount: number;
  readonly taxAmount: number;
  readonly totalAmount: number;
}

export interface Totals {
  readonly subtotal: number;
  readonly taxTotal: number;
  readonly total: number;
}

/** a / b rounded half away from zero (b > 0). */
function divRound(a: bigint, b: bigint): bigint {
  const negative = a < 0n;
  const magnitude = negative ? -a : a;
  const q = (magnitude * 2n + b) / (2n * b);
  return negative ? -q : q;
}

function toInt(value: bigint, what: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || Math.abs(n) > MAX_INT) throw new RangeError(`${what} is out of range (${value})`);
  return n;
}

/** One line: exclusive adds the tax on top of the net; inclusive takes it out of the price. */
export function lineAmounts(line: LineInput): LineAmounts {
  const gross = BigInt(line.quantity) * BigInt(line.unitAmount);
  const rate = BigInt(line.rateBps);
  if (line.inclusive) {
    const net = divRound(gross * BPS, BPS + rate);
    return { netAmount: toInt(net, 'line net'), taxAmount: toInt(gross - net, 'line tax'), totalAmount: toInt(gross, 'line total') };
  }
  const tax = divRound(gross * rate, BPS);
  return { netAmount: toInt(gross, 'line net'), taxAmount: toInt(tax, 'line tax'), totalAmount: toInt(gross + tax, 'line total') };
}

/** The invoice's totals: exact sums of its lines' rounded amounts. */
export function invoiceTotals(lines: readonly LineAmounts[]): Totals {
  let subtotal = 0n;
  let taxTotal = 0n;
  for (const line of lines) {
    subtotal += BigInt(line.netAmount);
    taxTotal += BigInt(line.taxAmount);
  }
  return { subtotal: toInt(subtotal, 'subtotal'), taxTotal: toInt(taxTotal, 'tax total'), total: toInt(subtotal + taxTotal, 'total') };
}

/** `amount` × numerator / denominator, rounded half away from zero (prorations). */
export function prorate(amount: number, numerator: number, denominator: number): number {
  if (denominator <= 0) throw new RangeError('denominator must be positive');
  return toInt(divRound(BigInt(amount) * BigInt(numerator), BigInt(denominator)), 'prorated amount');
}
