// What `jailx ps` shows of a jail's cgroup: limits and current usage (memory, pids, cpu), read
// from the cgroup directories the supervisor's sealed record names (v1 or v2 file names).
import { readFileSync } from "node:fs";

export interface Usage {
  memory?: { current: number; max: number | null };
  pids?: { current: number; max: number | null };
  cpu?: { usageUsec: number; cpus: number | null };
}

function read(path: string): string | null {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return null;
  }
}

const num = (s: string | null) => (s === null || s === "" || s === "max" ? null : Number(s));
/** v1 writes "no limit" as a huge number (PAGE_COUNTER_MAX pages). */
const limit = (s: string | null) => {
  const n = num(s);
  return n === null || n >= 2 ** 62 ? null : n;
};

export function cgroupUsage(dirs: readonly string[]): Usage {
  const u: Usage = {};
  for (const d of dirs) {
    const memV2 = read(`${d}/memory.current`), memV1 = read(`${d}/memory.usage_in_bytes`);
    if (memV2 !== null) u.memory = { current: Number(memV2), max: limit(read(`${d}/memory.max`)) };
    else if (memV1 !== null) u.memory = { current: Number(memV1), max: limit(read(`${d}/memory.limit_in_bytes`)) };
    const pids = read(`${d}/pids.current`);
    if (pids !== null) u.pids = { current: Number(pids), max: limit(read(`${d}/pids.max`)) };
    const stat = read(`${d}/cpu.stat`);
    const usec = stat ? /^usage_usec (\d+)/m.exec(stat)?.[1] : undefined;
    const v1usage = read(`${d}/cpuacct.usage`);
    if (usec !== undefined || v1usage !== null) {
      u.cpu ??= { usageUsec: 0, cpus: null };
      u.cpu.usageUsec = usec !== undefined ? Number(usec) : Math.round(Number(v1usage) / 1000);
    }
    const max = read(`${d}/cpu.max`);
    const quota = max ? max.split(" ") : [read(`${d}/cpu.cfs_quota_us`), read(`${d}/cpu.cfs_period_us`)];
    if (quota[0] !== null && quota[0] !== undefined && quota[1]) {
      u.cpu ??= { usageUsec: 0, cpus: null };
      const q = num(quota[0]);
      u.cpu.cpus = q === null || q < 0 ? null : q / Number(quota[1]);
    }
  }
  return u;
}
