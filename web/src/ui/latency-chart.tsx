import { useId } from 'react';

export interface HourPercentiles {
  hour: string;
  count: number;
  p50Seconds: number | null;
  p95Seconds: number | null;
}

const HOUR_MS = 60 * 60 * 1000;
const WIDTH = 480;
const HEIGHT = 140;
const PAD = { left: 48, right: 8, top: 10, bottom: 22 };

/** 42 → "42 s", 130 → "2 min 10 s". */
export function duration(seconds: number | null): string {
  if (seconds === null) return '—';
  if (seconds < 60) return `${Math.round(seconds * 10) / 10} s`;
  const minutes = Math.floor(seconds / 60);
  const rest = Math.round(seconds % 60);
  return rest === 0 ? `${minutes} min` : `${minutes} min ${rest} s`;
}

/** The axis label: short enough for the margin ("91 s", "12 min"). */
const tick = (seconds: number): string => (seconds < 120 ? `${Math.round(seconds)} s` : `${Math.round(seconds / 60)} min`);

/**
 * p50 and p95 per hour as bars, in plain SVG (no chart library: 24 bars do not need one). Hours
 * with no order gone live are gaps. The figures are also in the element's description, so a
 * screen reader gets them without the picture.
 */
export function LatencyChart({ from, to, hours }: { from: string; to: string; hours: readonly HourPercentiles[] }) {
  const titleId = useId();
  const descId = useId();
  const start = Math.floor(new Date(from).getTime() / HOUR_MS) * HOUR_MS;
  const slots = Math.max(1, Math.ceil((new Date(to).getTime() - start) / HOUR_MS));
  const max = Math.max(1, ...hours.map((hour) => hour.p95Seconds ?? 0));
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotWidth / slots;
  const y = (seconds: number) => PAD.top + plotHeight - (seconds / max) * plotHeight;
  const description = hours.map((hour) => `${new Date(hour.hour).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' })}: ${hour.count} live, p50 ${duration(hour.p50Seconds)}, p95 ${duration(hour.p95Seconds)}`).join('; ');
  return (
    <svg className="chart" viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-labelledby={`${titleId} ${descId}`}>
      <title id={titleId}>Order to live per hour over the last day, p50 and p95</title>
      <desc id={descId}>{description || 'No order went live in the last day.'}</desc>
      <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(0)} y2={y(0)} className="axis" />
      <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(max)} y2={y(max)} className="grid" />
      <text x={PAD.left - 4} y={y(max) + 4} textAnchor="end" className="tick">
        {tick(max)}
      </text>
      <text x={PAD.left - 4} y={y(0)} textAnchor="end" className="tick">
        0
      </text>
      <text x={PAD.left} y={HEIGHT - 4} className="tick">
        −24 h
      </text>
      <text x={WIDTH - PAD.right} y={HEIGHT - 4} textAnchor="end" className="tick">
        now
      </text>
      {hours.map((hour) => {
        const index = Math.min(slots - 1, Math.max(0, Math.floor((new Date(hour.hour).getTime() - start) / HOUR_MS)));
        const x = PAD.left + index * slot + slot * 0.15;
        const width = slot * 0.7;
        const p95 = hour.p95Seconds ?? 0;
        const p50 = hour.p50Seconds ?? 0;
        return (
          <g key={hour.hour}>
            <rect x={x} y={y(p95)} width={width} height={y(0) - y(p95)} className="p95" />
            <rect x={x} y={y(p50)} width={width} height={y(0) - y(p50)} className="p50" />
          </g>
        );
      })}
    </svg>
  );
}
