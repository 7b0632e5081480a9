// The one loop that scores the check table: exposure = Σ(weight × badness/range) / Σ(weight of the
// checks that apply and could be assessed) × 10, like `systemd-analyze security`. Checks that do
// not apply are left out; checks whose facts are unknown are left out too, and counted, so the
// report can say how much of the table the score covers.
import { CHECKS, type Check, type Layer } from "./checks.ts";
import { isUnknown, type Snapshot } from "./snapshot.ts";

export interface CheckResult {
  readonly id: string;
  readonly layer: Layer;
  readonly weight: number;
  readonly status: "good" | "bad" | "partial" | "na" | "unknown";
  /** 0..1 (badness / range); absent for na/unknown */
  readonly badness?: number;
  readonly text: string;
  readonly detail?: string;
}

export interface Score {
  /** 0.0 (fully contained) .. 10.0 (fully exposed), one decimal; null when nothing could be assessed */
  readonly exposure: number | null;
  readonly label: string;
  readonly assessed: number;
  readonly unknown: number;
  readonly results: readonly CheckResult[];
}

/** Labels by lower bound of exposure (systemd-analyze uses the same idea with its own names). */
export const LABELS: readonly { readonly min: number; readonly label: string }[] = [
  { min: 9.0, label: "UNSAFE" },
  { min: 7.5, label: "EXPOSED" },
  { min: 5.0, label: "MEDIUM" },
  { min: 1.0, label: "OK" },
  { min: 0.0, label: "SAFE" },
];

export function labelOf(exposure: number): string {
  return LABELS.find((l) => exposure >= l.min)!.label;
}

/** Only the number and label (for --all rows): no per-check results are built. */
export function exposureOf(s: Snapshot, checks: readonly Check[] = CHECKS): { exposure: number | null; label: string } {
  let sum = 0;
  let weights = 0;
  for (const c of checks) {
    const a = c.assess(s);
    if (isUnknown(a) || "na" in a) continue;
    sum += c.weight * Math.min(1, Math.max(0, a.badness / c.range));
    weights += c.weight;
  }
  const exposure = weights ? Math.round((sum / weights) * 100) / 10 : null;
  return { exposure, label: exposure === null ? "UNKNOWN" : labelOf(exposure) };
}

export function score(s: Snapshot, checks: readonly Check[] = CHECKS): Score {
  let sum = 0;
  let weights = 0;
  let unknownCount = 0;
  const results: CheckResult[] = [];
  for (const c of checks) {
    const a = c.assess(s);
    if (isUnknown(a)) {
      unknownCount++;
      results.push({ id: c.id, layer: c.layer, weight: c.weight, status: "unknown", text: "cannot be assessed", detail: `unknown (${a.unknown})` });
    } else if ("na" in a) {
      results.push({ id: c.id, layer: c.layer, weight: c.weight, status: "na", text: c.good });
    } else {
      const b = Math.min(1, Math.max(0, a.badness / c.range));
      sum += c.weight * b;
      weights += c.weight;
      const status = b === 0 ? "good" : b === 1 ? "bad" : "partial";
      results.push({ id: c.id, layer: c.layer, weight: c.weight, status, badness: b, text: b === 0 ? c.good : c.bad, detail: a.detail });
    }
  }
  const exposure = weights ? Math.round((sum / weights) * 100) / 10 : null;
  return { exposure, label: exposure === null ? "UNKNOWN" : labelOf(exposure), assessed: results.length - unknownCount, unknown: unknownCount, results };
}
