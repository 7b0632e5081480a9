// `--memory 64m --cpus 0.5 …` → a validated CgroupPlan: plain JSON data (printed by
// `jailx run --dry-run`), no I/O. Applying it to a kernel is sys/cgroup/jail.ts's job.
import type { ParsedOptions } from "../../jail/options.ts";
import { UsageError } from "../errors.ts";

/** A controller in jailx's own words; each cgroup version names its files differently. */
export type CgroupController = "memory" | "cpu" | "cpuset" | "pids" | "io";

export interface CgroupPlan {
  /** --memory, in bytes. */
  memoryBytes?: number;
  /** --memory-swap: memory + swap in bytes (docker's meaning), or "max" for unlimited swap. */
  memorySwapBytes?: number | "max";
  /** --cpus: CFS bandwidth, quota per period, in microseconds. */
  cpuQuotaUs?: number;
  cpuPeriodUs?: number;
  /** --cpu-weight: 1..10000 (cgroup v2 scale; converted to cpu.shares on v1). */
  cpuWeight?: number;
  /** --cpuset: a CPU list such as "0,2-3". */
  cpuset?: string;
  /** --pids: maximum number of tasks. */
  pidsMax?: number;
  /** --io-weight: 1..10000 (cgroup v2 scale; converted on v1 and for bfq). */
  ioWeight?: number;
  /** --cgroup-parent as given: absolute = from the hierarchy root, relative = from the caller's cgroup. */
  parent?: string;
  /** The controllers the limits above need, in a fixed order. */
  controllers: CgroupController[];
  /**
   * Limits that come from jailx's defaults, not from a flag (only "pids" today). Where no
   * cgroup can be made without configuration they are dropped instead of failing the run.
   */
  defaults?: "pids"[];
}

/** jailx's default limits, each removable by its flag (`--pids unlimited`). */
export interface CgroupDefaults {
  pids?: number;
}

/** The CFS period jailx uses for --cpus (the kernel default, 100 ms). */
export const CPU_PERIOD_US = 100_000;
/** The kernel refuses a CFS quota below 1 ms (kernel/sched/core.c, min_cfs_quota_period). */
const MIN_CPU_QUOTA_US = 1_000;
const MIN_MEMORY_BYTES = 1024 * 1024;

const UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** "64m", "1.5g", "65536", "64MiB" → bytes (binary units, like docker and systemd). */
export function parseSize(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) return null;
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** Bytes → "64 MiB" for messages. */
export function formatBytes(n: number): string {
  for (const [unit, size] of [["TiB", 1024 ** 4], ["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (n >= size) return `${Number((n / size).toFixed(2))} ${unit}`;
  }
  return `${n} bytes`;
}

/** A kernel CPU list: "0", "0-3", "0,2-3". */
const CPU_LIST = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

function stringOption(o: ParsedOptions, name: string): string | undefined {
  const v = o[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw new UsageError(`--${name}: give it once, with a value`);
  return v;
}

function integerIn(name: string, text: string, min: number, max: number, example: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} '${text}': use a whole number from ${min} to ${max} (e.g. ${example})`);
  }
  return n;
}

/**
 * The cgroup part of a `jailx run` command line, validated, with `defaults` for what no flag
 * names. null when there is no limit at all (no flag, defaults removed): then no cgroup is
 * created (the jail's pid namespace already ends every process with its init).
 */
export function cgroupPlanFromOptions(o: ParsedOptions, defaults: CgroupDefaults = {}): CgroupPlan | null {
  const memory = stringOption(o, "memory");
  const swap = stringOption(o, "memory-swap");
  const cpus = stringOption(o, "cpus");
  const cpuWeight = stringOption(o, "cpu-weight");
  const cpuset = stringOption(o, "cpuset");
  const pidsFlag = stringOption(o, "pids");
  const pidsDefault = pidsFlag === undefined && defaults.pids !== undefined;
  const pids = pidsFlag === "unlimited" ? undefined : pidsDefault ? String(defaults.pids) : pidsFlag;
  const ioWeight = stringOption(o, "io-weight");
  const parent = stringOption(o, "cgroup-parent");

  const limits = [memory, swap, cpus, cpuWeight, cpuset, pids, ioWeight];
  if (limits.every((v) => v === undefined)) {
    if (parent !== undefined) throw new UsageError(`--cgroup-parent '${parent}': it only applies with a limit flag (--memory, --cpus, --pids, …)`);
    return null;
  }
  const plan: CgroupPlan = { controllers: [] };

  if (memory !== undefined) {
    const bytes = parseSize(memory);
    if (bytes === null) throw new UsageError(`--memory '${memory}': use a size like 64m or 1g`);
    if (bytes < MIN_MEMORY_BYTES) throw new UsageError(`--memory '${memory}': at least 1m is needed to start a program`);
    plan.memoryBytes = bytes;
  }
  if (swap !== undefined) {
    if (plan.memoryBytes === undefined) throw new UsageError(`--memory-swap '${swap}': it is memory plus swap; give --memory too`);
    if (swap === "-1" || swap === "max") plan.memorySwapBytes = "max";
    else {
      const bytes = parseSize(swap);
      if (bytes === null) throw new UsageError(`--memory-swap '${swap}': use a size like 128m or 2g (memory plus swap), or max`);
      if (bytes < plan.memoryBytes) throw new UsageError(`--memory-swap '${swap}': it is memory plus swap, so it must be at least --memory (${memory})`);
      plan.memorySwapBytes = bytes;
    }
  }
  if (cpus !== undefined) {
    const n = /^\d+(\.\d+)?$/.test(cpus.trim()) ? Number(cpus.trim()) : NaN;
    const quota = Math.round(n * CPU_PERIOD_US);
    if (!Number.isFinite(n) || quota < MIN_CPU_QUOTA_US) throw new UsageError(`--cpus '${cpus}': use a number of CPUs of at least 0.01, like 0.5 or 2`);
    plan.cpuQuotaUs = quota;
    plan.cpuPeriodUs = CPU_PERIOD_US;
  }
  if (cpuWeight !== undefined) plan.cpuWeight = integerIn("cpu-weight", cpuWeight, 1, 10000, "100, the default");
  if (cpuset !== undefined) {
    if (!CPU_LIST.test(cpuset.trim())) throw new UsageError(`--cpuset '${cpuset}': use a CPU list like 0 or 0,2-3`);
    plan.cpuset = cpuset.trim();
  }
  if (pids !== undefined) plan.pidsMax = integerIn("pids", pids, 1, 4194304, "64, or unlimited");
  if (pidsDefault) plan.defaults = ["pids"];
  if (ioWeight !== undefined) plan.ioWeight = integerIn("io-weight", ioWeight, 1, 10000, "100, the default");
  if (parent !== undefined) {
    if (parent.trim() === "" || parent.includes("\0")) throw new UsageError(`--cgroup-parent '${parent}': give a cgroup path like /jailx.slice or a path relative to jailx's own cgroup`);
    plan.parent = parent;
  }

  if (plan.memoryBytes !== undefined) plan.controllers.push("memory");
  if (plan.cpuQuotaUs !== undefined || plan.cpuWeight !== undefined) plan.controllers.push("cpu");
  if (plan.cpuset !== undefined) plan.controllers.push("cpuset");
  if (plan.pidsMax !== undefined) plan.controllers.push("pids");
  if (plan.ioWeight !== undefined) plan.controllers.push("io");
  return plan;
}

/** The plan without its default limits (null when nothing is left), for hosts where they cannot be applied. */
export function withoutDefaults(plan: CgroupPlan): CgroupPlan | null {
  if (!plan.defaults?.length) return plan;
  const { defaults: _, pidsMax: __, ...rest } = plan;
  const left: CgroupPlan = { ...rest, controllers: plan.controllers.filter((c) => c !== "pids") };
  const hasLimit = Object.keys(left).some((k) => k !== "controllers" && k !== "parent");
  return hasLimit ? left : null;
}
