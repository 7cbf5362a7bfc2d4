/** A status as text with a colour class; the word carries the meaning, the colour only repeats it. */
export function Status({ value }: { value: string }) {
  return <span className={`status status-${value.toLowerCase()}`}>{value}</span>;
}
