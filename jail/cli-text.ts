// Text helpers shared by every command's --help and argument errors: two-column help wrapped to
// a width, and "did you mean" for a mistyped option. Pure: the caller decides the width.

/** Help text is wrapped to the terminal's width, and to this when stdout is not a terminal. */
export const DEFAULT_WIDTH = 80;
/** The left column (the flag) takes at most this much; longer flags put their text below. */
const MAX_LEFT = 34;

/** Words of `text` in lines of at most `width` characters (a longer word gets a line of its own). */
export function wrapWords(text: string, width: number): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}

/**
 * Rows of (left, right) as an aligned two-column list within `width`: the right column starts
 * after the widest left cell (at most MAX_LEFT) and wraps beneath itself; a left cell wider
 * than that puts its text on the following lines.
 */
export function twoColumns(rows: readonly (readonly [string, string])[], width: number, indent = 2, leftWidth = leftColumn(rows)): string[] {
  const col = indent + leftWidth + 2;
  const out: string[] = [];
  for (const [left, right] of rows) {
    const pad = " ".repeat(indent);
    // Too narrow a terminal for two columns: the text goes below the flag, indented.
    const textCol = width - col < 24 ? indent + 4 : col;
    const text = wrapWords(right, Math.max(20, width - textCol));
    const head = pad + left;
    if (textCol === col && head.length + 2 <= col && text.length) out.push(head.padEnd(col) + text.shift()!);
    else out.push(head);
    for (const t of text) out.push(" ".repeat(textCol) + t);
  }
  return out;
}

/** Width of the left column for these rows (several lists can share one: pass it to each). */
export function leftColumn(rows: readonly (readonly [string, string])[]): number {
  return Math.max(0, ...rows.map(([l]) => l.length).filter((n) => n <= MAX_LEFT));
}

/** Optimal string alignment distance (Levenshtein plus transposition of two neighbours). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  return d[a.length]![b.length]!;
}

/**
 * The known name closest to a mistyped one, or null when none is close: a name it is the start
 * of (the shortest such), else the nearest by edit distance within about a third of its length.
 */
export function closest(typed: string, known: readonly string[]): string | null {
  const t = typed.toLowerCase().replace(/_/g, "-");
  if (t.length >= 3) {
    const prefixed = known.filter((k) => k.startsWith(t)).sort((a, b) => a.length - b.length);
    if (prefixed.length) return prefixed[0]!;
  }
  let best: string | null = null;
  let bestD = Math.max(1, Math.min(3, Math.floor(t.length / 3)));
  for (const k of known) {
    const d = editDistance(t, k);
    if (d < bestD || (d === bestD && best === null)) [best, bestD] = [k, d];
  }
  return best;
}

/** " (did you mean --x?)" or "": to follow the unknown name in a message. */
export function didYouMean(typed: string, known: readonly string[], prefix = "--"): string {
  const c = closest(typed, known);
  return c ? ` (did you mean ${prefix}${c}?)` : "";
}
