// Seccomp actions: the words users and policy files write, and the SECCOMP_RET_* values the
// kernel reads (include/uapi/linux/seccomp.h).
import { ERRNO, errnoName } from "../errno.ts";
import { UsageError } from "../errors.ts";

export const RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;
const ACTION_FULL = 0xffff0000;
const DATA = 0x0000ffff;

/**
 * An action in a plan: "allow", "log", "kill" (the whole process, SIGSYS), "trap", or
 * "errno:N" with N a number. Plans store the canonical form; users may write errno names.
 */
export type Action = string;

/** Parse a user's action ("errno", "errno:EPERM", "errno:13", "kill", "log", "allow", "trap"). */
export function parseAction(text: string, what: string): Action {
  const t = text.trim().toLowerCase();
  if (t === "allow" || t === "log" || t === "kill" || t === "trap") return t;
  if (t === "kill-process" || t === "kill_process") return "kill";
  const m = /^errno(?::(\w+))?$/.exec(t);
  if (m) {
    const v = m[1];
    if (v === undefined) return "errno:1";
    const n = /^\d+$/.test(v) ? Number(v) : ERRNO[v.toUpperCase()];
    if (n !== undefined && n > 0 && n <= 4095) return `errno:${n}`;
  }
  throw new UsageError(`${what}: unknown seccomp action '${text}': use errno[:N|:NAME], kill, log, trap or allow`);
}

/** The 32-bit value a filter returns for an action. */
export function actionToRet(a: Action): number {
  switch (a) {
    case "allow": return RET.ALLOW;
    case "log": return RET.LOG;
    case "kill": return RET.KILL_PROCESS;
    case "trap": return RET.TRAP;
    // Only jailx learn's own filter uses it (jail/learn/filter.ts); users cannot write it.
    case "notify": return RET.USER_NOTIF;
  }
  const m = /^errno:(\d+)$/.exec(a);
  if (!m) throw new Error(`seccomp: not a canonical action: ${a}`);
  return (RET.ERRNO | (Number(m[1]) & DATA)) >>> 0;
}

/** Any filter's return value (ours or someone else's) as a readable action. */
export function describeRet(ret: number): string {
  const r = ret >>> 0;
  switch ((r & ACTION_FULL) >>> 0) {
    case RET.KILL_PROCESS: return "kill";
    case RET.KILL_THREAD: return "kill-thread";
    case RET.TRAP: return r & DATA ? `trap:${r & DATA}` : "trap";
    case RET.ERRNO: return `errno:${errnoName(r & DATA)}`;
    case RET.USER_NOTIF: return "user-notif";
    case RET.TRACE: return `trace:${r & DATA}`;
    case RET.LOG: return "log";
    case RET.ALLOW: return "allow";
  }
  // The kernel treats unknown actions as KILL_PROCESS (kernel/seccomp.c, seccomp_run_filters).
  return `kill (unknown action 0x${r.toString(16)})`;
}

/** A plan action in the user's words: errno numbers shown with their names. */
export function formatAction(a: Action): string {
  const m = /^errno:(\d+)$/.exec(a);
  return m ? `errno:${errnoName(Number(m[1]))}` : a;
}
