// The limits table: for each controller and cgroup version, which files get which values.
// Data, applied by one loop in jail.ts. File names: Documentation/admin-guide/cgroup-v2.rst and
// Documentation/admin-guide/cgroup-v1/*.rst in the Linux tree.
import type { CgroupController, CgroupPlan } from "./plan.ts";

export interface LimitWrite {
  /** The user's flag, for error messages. */
  flag: string;
  /**
   * Candidate files with the value for each; the first existing file wins, none existing is an
   * error (never a silent drop). copyParent: take the parent's value from the first of these
   * files that is non-empty (v1 cpuset.mems must be filled before tasks may join).
   */
  choices: Array<{ file: string; value: string | { copyParent: string[] } }>;
  /** Why a missing file happens and what to do, for the error. */
  missing: string;
}

/** v1 controller names; io is blkio there. */
export const V1_NAME: Record<CgroupController, string> = { memory: "memory", cpu: "cpu", cpuset: "cpuset", pids: "pids", io: "blkio" };

/** The flag that made a controller necessary, for messages. */
export function flagFor(plan: CgroupPlan, ctl: CgroupController): string {
  switch (ctl) {
    case "memory": return plan.memorySwapBytes !== undefined && plan.memoryBytes === undefined ? "--memory-swap" : "--memory";
    case "cpu": return plan.cpuQuotaUs !== undefined ? "--cpus" : "--cpu-weight";
    case "cpuset": return "--cpuset";
    case "pids": return "--pids";
    case "io": return "--io-weight";
  }
}

/**
 * cgroup v2 weight (1..10000) → v1 cpu.shares (2..262144): the inverse of the linear map runc
 * uses for shares → weight (runc libcontainer/cgroups/utils.go, ConvertCPUSharesToCgroupV2Value).
 */
export function weightToShares(weight: number): number {
  return Math.round(2 + ((weight - 1) * 262142) / 9999);
}

/**
 * cgroup v2 io weight (1..10000) → v1 blkio / bfq weight (10..1000): the inverse of runc's
 * ConvertBlkIOToIOWeightValue (1 + (blkio - 10) * 9999 / 990).
 */
export function ioWeightToBlkio(weight: number): number {
  return Math.round(10 + ((weight - 1) * 990) / 9999);
}

const SWAP_V1 = "swap accounting is off in this kernel; boot with swapaccount=1 or drop --memory-swap";
const SWAP_V2 = "the kernel has no swap controller (memory.swap.max); boot with swapaccount=1 or drop --memory-swap";

/** The writes for the controllers `here` (those this hierarchy serves), in the order they must happen. */
export function limitWrites(plan: CgroupPlan, version: 1 | 2, here: readonly CgroupController[]): LimitWrite[] {
  const w: LimitWrite[] = [];
  const has = (c: CgroupController) => here.includes(c);
  if (has("memory") && plan.memoryBytes !== undefined) {
    const mem = plan.memoryBytes;
    if (version === 2) {
      w.push({ flag: "--memory", choices: [{ file: "memory.max", value: String(mem) }], missing: "the memory controller is not enabled here" });
      if (plan.memorySwapBytes !== undefined) {
        // v2 limits swap alone; --memory-swap is memory plus swap (docker's meaning).
        const swap = plan.memorySwapBytes === "max" ? "max" : String(plan.memorySwapBytes - mem);
        w.push({ flag: "--memory-swap", choices: [{ file: "memory.swap.max", value: swap }], missing: SWAP_V2 });
      }
    } else {
      w.push({ flag: "--memory", choices: [{ file: "memory.limit_in_bytes", value: String(mem) }], missing: "the memory controller is not mounted here" });
      if (plan.memorySwapBytes !== undefined) {
        // memsw must be >= limit_in_bytes, so it is written second.
        const memsw = plan.memorySwapBytes === "max" ? "-1" : String(plan.memorySwapBytes);
        w.push({ flag: "--memory-swap", choices: [{ file: "memory.memsw.limit_in_bytes", value: memsw }], missing: SWAP_V1 });
      }
    }
  }
  if (has("cpu")) {
    if (plan.cpuQuotaUs !== undefined) {
      const period = String(plan.cpuPeriodUs);
      if (version === 2) w.push({ flag: "--cpus", choices: [{ file: "cpu.max", value: `${plan.cpuQuotaUs} ${period}` }], missing: "the cpu controller is not enabled here" });
      else {
        w.push({ flag: "--cpus", choices: [{ file: "cpu.cfs_period_us", value: period }], missing: "CFS bandwidth control (CONFIG_CFS_BANDWIDTH) is off in this kernel" });
        w.push({ flag: "--cpus", choices: [{ file: "cpu.cfs_quota_us", value: String(plan.cpuQuotaUs) }], missing: "CFS bandwidth control (CONFIG_CFS_BANDWIDTH) is off in this kernel" });
      }
    }
    if (plan.cpuWeight !== undefined) {
      if (version === 2) w.push({ flag: "--cpu-weight", choices: [{ file: "cpu.weight", value: String(plan.cpuWeight) }], missing: "the cpu controller is not enabled here" });
      else w.push({ flag: "--cpu-weight", choices: [{ file: "cpu.shares", value: String(weightToShares(plan.cpuWeight)) }], missing: "the cpu controller is not mounted here" });
    }
  }
  if (has("cpuset") && plan.cpuset !== undefined) {
    if (version === 1) w.push({ flag: "--cpuset", choices: [{ file: "cpuset.mems", value: { copyParent: ["cpuset.mems", "cpuset.effective_mems"] } }], missing: "the cpuset controller is not mounted here" });
    w.push({ flag: "--cpuset", choices: [{ file: "cpuset.cpus", value: plan.cpuset }], missing: "the cpuset controller is not enabled here" });
  }
  if (has("pids") && plan.pidsMax !== undefined) {
    w.push({ flag: "--pids", choices: [{ file: "pids.max", value: String(plan.pidsMax) }], missing: "the pids controller is not enabled here" });
  }
  if (has("io") && plan.ioWeight !== undefined) {
    const missing = "no I/O weight file (io.weight needs the io.cost controller, io.bfq.weight the BFQ scheduler); drop --io-weight or switch the disk's scheduler to bfq";
    // io.weight takes "default N" (1..10000); the bfq files take 1..1000 (blkio.weight 10..1000).
    const blkio = String(ioWeightToBlkio(plan.ioWeight));
    const choices =
      version === 2
        ? [{ file: "io.weight", value: `default ${plan.ioWeight}` }, { file: "io.bfq.weight", value: blkio }]
        : [{ file: "blkio.weight", value: blkio }, { file: "blkio.bfq.weight", value: blkio }];
    w.push({ flag: "--io-weight", choices, missing });
  }
  return w;
}
