// Text the inspected process controls (its name, command line, environment, mount points,
// cgroup paths) must not reach the reader's terminal as control characters: an escape sequence
// could rewrite or hide lines of the report, a newline could forge one. The text renderers get
// a copy of the data with every C0/C1 control character shown as "?". JSON is escaped anyway.

const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;

export function printableText(s: string): string {
  return s.replace(CONTROL, "?");
}

/** A deep copy of plain data with every string made printable. */
export function printable<T>(value: T): T {
  if (typeof value === "string") return printableText(value) as T;
  if (Array.isArray(value)) return value.map(printable) as T;
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = printable(v);
    return out as T;
  }
  return value;
}
