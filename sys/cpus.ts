// Keeping the jail's init off the supervisor's CPU while the jail is built.
//
// The supervisor compiles the jail's ops while the init (a CLONE_VM child) replays them as they
// come, waking at each batch. Left to the scheduler, the init was woken on the supervisor's own
// CPU every time, preempting the compile, while the other CPU stayed idle (perf sched timehist on
// the 2-CPU development VMs: ~16 switches of 0.07–0.1 ms per run). Pinned elsewhere until its
// setup is done, it replays beside the compile: `run --pids unlimited` 13.8 → 12.3 ms there.
//
// The init pins itself as its first op. The program's process, which it forks, keeps the pin until
// its gate opens and then sets every CPU again, before its filter and execve; the init does so
// right after the fork, before it executes jailx's init: the program and jailx's init see the
// affinity they would have had. The memory holder (jail/stage/compile.ts) is pinned to the
// supervisor's CPU: at the hand-over its ~1 ms teardown of Bun's memory then runs beside the
// program's start instead of queueing with it for one CPU (alternating A/B from fresh copies,
// 200–300 runs: `run --pids unlimited` 16.38 → 15.66 and 13.89 → 13.38 ms). That
// holds only where the supervisor may run on every online CPU (nothing restricts it); a caller
// held to some CPUs (taskset, a cpuset narrower than the machine) is left alone, since "every
// CPU" would not be what the program inherits from it. All-ones rather than the list read now: a
// task whose affinity was set keeps that mask as its own (Linux 6.2+ user_cpus_ptr), and with
// every bit set it still follows cpuset changes and CPU hotplug as an unset one does.
import { readFileSync } from "node:fs";
import { ptr, syscall } from "./ffi.ts";
import { NR } from "./nr.ts";

/** The two masks the init sets (sched_setaffinity's bytes), each as long as the kernel's cpumask. */
export interface CpuSpread {
  /** every allowed CPU but the supervisor's */
  away: Uint8Array;
  /** every CPU: the affinity of a task nobody restricted */
  every: Uint8Array;
  /** the supervisor's CPU alone */
  home: Uint8Array;
}

/** "0-3,6" (a kernel CPU list, e.g. /sys/devices/system/cpu/online) → CPU numbers; null when malformed. */
export function parseCpuList(text: string): number[] | null {
  const out: number[] = [];
  for (const part of text.trim().split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return null;
    const a = Number(m[1]), b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b > 65535) return null;
    for (let c = a; c <= b; c++) out.push(c);
  }
  return out;
}

/**
 * The masks, or null when there is nothing to spread: fewer than two CPUs allowed, or the
 * allowed set is not every online CPU (the caller is held to some), or `cpu` is not among them.
 */
export function spreadMasks(allowed: Uint8Array, online: readonly number[], cpu: number): CpuSpread | null {
  const has = (c: number) => c >> 3 < allowed.length && (allowed[c >> 3]! & (1 << (c & 7))) !== 0;
  let count = 0;
  for (let c = 0; c < allowed.length * 8; c++) if (has(c)) count++;
  if (count < 2 || !has(cpu) || count !== online.length || !online.every(has)) return null;
  const away = Uint8Array.from(allowed);
  away[cpu >> 3]! &= ~(1 << (cpu & 7));
  const home = new Uint8Array(allowed.length);
  home[cpu >> 3] = 1 << (cpu & 7);
  return { away, every: new Uint8Array(allowed.length).fill(0xff), home };
}

/** This thread's masks (sched_getaffinity, getcpu, the online CPUs), or null (see spreadMasks). */
export function cpuSpread(): CpuSpread | null {
  const mask = new Uint8Array(1024); // 8192 CPUs: more than any kernel's cpumask
  const n = Number(syscall(NR.sched_getaffinity, 0, mask.length, ptr(mask)));
  const cpu = new Uint32Array(2);
  if (n <= 0 || syscall(NR.getcpu, ptr(cpu), 0, 0) < 0n) return null;
  let online: number[] | null;
  try {
    online = parseCpuList(readFileSync("/sys/devices/system/cpu/online", "latin1"));
  } catch {
    return null;
  }
  return online && spreadMasks(mask.subarray(0, n), online, cpu[0]!);
}
