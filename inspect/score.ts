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
  /** checks that apply and were judged (n/a and unknown ones not counted) */
  readonly assessed: number;
  readonly unknown: number;
  /** checks that do not apply to this process */
  readonly na: number;
  /**
   * Where the exposure could be once the unknown checks are known: each unknown check all good
   * (min) or all bad (max), weighed in; min = max = exposure when nothing is unknown.
   */
  readonly range: { readonly min: number; readonly max: number } | null;
  /** share of the applicable weight that is unknown, 0..1 (two decimals) */
  readonly unknownWeight: number;
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

interface Tally {
  sum: number;
  weights: number;
  unknownWeights: number;
}

function summarise(t: Tally) {
  const round = (x: number) => Math.round(x * 100) / 10;
  const exposure = t.weights ? round(t.sum / t.weights) : null;
  const all = t.weights + t.unknownWeights;
  return {
    exposure,
    label: exposure === null ? "UNKNOWN" : labelOf(exposure),
    range: all ? { min: round(t.sum / all), max: round((t.sum + t.unknownWeights) / all) } : null,
    unknownWeight: all ? Math.round((t.unknownWeights / all) * 100) / 100 : 0,
  };
}

/** Only the number, label and range (for --all rows): no per-check results are built. */
export function exposureOf(s: Snapshot, checks: readonly Check[] = CHECKS) {
  const t: Tally = { sum: 0, weights: 0, unknownWeights: 0 };
  for (const c of checks) {
    const a = c.assess(s);
    if (isUnknown(a)) t.unknownWeights += c.weight;
    else if (!("na" in a)) {
      t.sum += c.weight * Math.min(1, Math.max(0, a.badness / c.range));
      t.weights += c.weight;
    }
  }
  return summarise(t);
}

export function score(s: Snapshot, checks: readonly Check[] = CHECKS): Score {
  const t: Tally = { sum: 0, weights: 0, unknownWeights: 0 };
  let unknownCount = 0;
  let na = 0;
  const results: CheckResult[] = [];
  for (const c of checks) {
    const a = c.assess(s);
    if (isUnknown(a)) {
      unknownCount++;
      t.unknownWeights += c.weight;
      results.push({ id: c.id, layer: c.layer, weight: c.weight, status: "unknown", text: "cannot be assessed", detail: `unknown (${a.unknown})` });
    } else if ("na" in a) {
      na++;
      results.push({ id: c.id, layer: c.layer, weight: c.weight, status: "na", text: c.good });
    } else {
      const b = Math.min(1, Math.max(0, a.badness / c.range));
      t.sum += c.weight * b;
      t.weights += c.weight;
      const status = b === 0 ? "good" : b === 1 ? "bad" : "partial";
      results.push({ id: c.id, layer: c.layer, weight: c.weight, status, badness: b, text: a.text ?? (b === 0 ? c.good : c.bad), detail: a.detail });
    }
  }
  return { ...summarise(t), assessed: results.length - unknownCount - na, unknown: unknownCount, na, results };
}
