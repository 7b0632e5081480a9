// Resource limits (setrlimit/prlimit), by name.
import { c, errno, ptr } from "./ffi.ts";
import { errnoName } from "./errno.ts";
import { SysError } from "./errors.ts";

/** RLIMIT_* numbers (same on x86_64 and aarch64). */
export const RLIMITS: Readonly<Record<string, number>> = {
  cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, rss: 5, nproc: 6, nofile: 7, memlock: 8,
  as: 9, locks: 10, sigpending: 11, msgqueue: 12, nice: 13, rtprio: 14, rttime: 15,
};

export const RLIM_INFINITY = 0xffffffffffffffffn;

export interface Rlimit {
  name: string;
  resource: number;
  soft: bigint;
  /** undefined: keep the current hard limit */
  hard?: bigint;
}

export function getRlimit(resource: number): { soft: bigint; hard: bigint } {
  const cur = new BigUint64Array(2);
  if (c.prlimit(0, resource, null, ptr(cur)) < 0) throw new SysError("prlimit", errnoName(errno()), errno());
  return { soft: cur[0]!, hard: cur[1]! };
}

export function setRlimit(l: Rlimit): void {
  const hard = l.hard ?? getRlimit(l.resource).hard;
  const val = new BigUint64Array([l.soft, hard]);
  if (c.prlimit(0, l.resource, ptr(val), null) < 0) {
    const e = errno();
    throw new SysError("prlimit", errnoName(e), e, undefined, `${l.name}=${l.soft}:${hard}`,
      e === 1 ? "raising a hard limit needs CAP_SYS_RESOURCE" : undefined);
  }
}
