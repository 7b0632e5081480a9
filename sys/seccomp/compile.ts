// Compiles a SeccompPlan into classic BPF for one machine.
//
// Shape: check seccomp_data.arch first (native arch first, so the hot path pays one compare);
// on x86_64 split off x32 numbers; then a binary search over the syscall number, where the
// number line is cut into intervals that share a verdict and the tree is weighted so that hot
// syscalls (read, write, futex, …) sit near the root. Leaves return, or check arguments.
import { actionToRet, type Action } from "./actions.ts";
import { Assembler, type Label } from "./asm.ts";
import { BPF, MAX_INSNS, SECCOMP_DATA, encode, type Insn } from "./bpf.ts";
import type { SeccompPlan } from "./policy.ts";
import type { ArgCondition, SyscallRule } from "./policy-types.ts";
import { AUDIT_ARCH, MACHINE_ABIS, TABLES, X32_SYSCALL_BIT, currentMachine, type Abi, type Machine } from "./tables.ts";

/** Syscalls that dominate real workloads: the search tree keeps them shallow. */
export const HOT_SYSCALLS = [
  "read", "write", "futex", "epoll_wait", "epoll_pwait", "epoll_ctl", "recvmsg", "sendmsg", "recvfrom", "sendto",
  "mmap", "munmap", "poll", "ppoll", "readv", "writev", "pread64", "pwrite64", "close", "openat", "newfstatat",
  "fstat", "lseek", "getpid", "getppid", "clock_gettime", "gettimeofday", "sched_yield", "io_getevents", "nanosleep",
];
const HOT_WEIGHT = 1000;

const LD_W_ABS = BPF.LD | BPF.W | BPF.ABS;
const RET_K = BPF.RET | BPF.K;
const JEQ = BPF.JMP | BPF.JEQ | BPF.K;
const JGE = BPF.JMP | BPF.JGE | BPF.K;
const AND = BPF.ALU | BPF.AND | BPF.K;

export function compileSeccompPlan(plan: SeccompPlan, machine: Machine = currentMachine()): Buffer {
  return encode(compileToInsns(plan, machine));
}

export function compileToInsns(plan: SeccompPlan, machine: Machine = currentMachine()): Insn[] {
  const a = new Assembler();
  const [native, ...foreign] = MACHINE_ABIS[machine];
  const nativeLabel = a.label();
  const i386Label = a.label();
  a.insn(LD_W_ABS, SECCOMP_DATA.arch);
  a.jump(JEQ, AUDIT_ARCH[machine], nativeLabel, null);
  if (foreign.includes("i386")) a.jump(JEQ, AUDIT_ARCH.i386, i386Label, null);
  // Any other architecture: a process cannot switch to one it does not have; kill.
  a.insn(RET_K, actionToRet("kill"));

  a.place(nativeLabel);
  a.insn(LD_W_ABS, SECCOMP_DATA.nr);
  if (foreign.includes("x32")) {
    const x32Label = a.label();
    a.jump(JGE, X32_SYSCALL_BIT, x32Label, null);
    emitSearch(a, plan, native!);
    a.place(x32Label);
    if (plan.openAbis.includes("x32")) emitSearch(a, plan, "x32");
    else a.insn(RET_K, actionToRet(plan.foreignAbiAction));
  } else emitSearch(a, plan, native!);

  if (foreign.includes("i386")) {
    a.place(i386Label);
    if (plan.openAbis.includes("i386")) {
      a.insn(LD_W_ABS, SECCOMP_DATA.nr);
      emitSearch(a, plan, "i386");
    } else a.insn(RET_K, actionToRet(plan.foreignAbiAction));
  }
  const prog = a.assemble();
  if (prog.length > MAX_INSNS) throw new Error(`seccomp: the filter has ${prog.length} instructions, more than the kernel's ${MAX_INSNS}`);
  return prog;
}

interface Interval {
  start: number;
  verdict: SyscallRule;
  weight: number;
}

/** The verdict for every number of one ABI, as intervals of equal verdicts. */
export function verdictIntervals(plan: SeccompPlan, abi: Abi): Interval[] {
  const table = TABLES[abi];
  const byNr = new Map<number, string>();
  for (const [name, nr] of table) if (!byNr.has(nr) || plan.syscalls[name]) byNr.set(nr, name);
  // Numbers no table names (future syscalls): ENOSYS in deny-list mode, else the default.
  const unknown: SyscallRule = { action: plan.defaultAction === "allow" ? "errno:38" : plan.defaultAction };
  const known = (name: string): SyscallRule => plan.syscalls[name] ?? { action: plan.defaultAction };
  const hot = new Set(HOT_SYSCALLS);
  const nrs = [...byNr.keys()].sort((x, y) => x - y);
  const out: Interval[] = [];
  const push = (start: number, verdict: SyscallRule, weight: number) => {
    const last = out[out.length - 1];
    if (last && sameVerdict(last.verdict, verdict)) last.weight += weight;
    else out.push({ start, verdict, weight });
  };
  let expect = abi === "x32" ? X32_SYSCALL_BIT : 0;
  if (abi === "x32") push(0, unknown, 0);
  for (const nr of nrs) {
    if (nr > expect) push(expect, unknown, 1);
    const name = byNr.get(nr)!;
    push(nr, known(name), hot.has(name) ? HOT_WEIGHT : 1);
    expect = nr + 1;
  }
  push(expect, unknown, 1);
  return out;
}

function sameVerdict(a: SyscallRule, b: SyscallRule): boolean {
  return a.action === b.action && JSON.stringify(a.argRules ?? []) === JSON.stringify(b.argRules ?? []);
}

/** Weighted binary search over intervals; A holds the syscall number on entry. */
function emitSearch(a: Assembler, plan: SeccompPlan, abi: Abi): void {
  const iv = verdictIntervals(plan, abi);
  const prefix = [0];
  for (const x of iv) prefix.push(prefix[prefix.length - 1]! + x.weight);
  const tree = (lo: number, hi: number): void => {
    if (lo === hi) return emitVerdict(a, iv[lo]!.verdict);
    // Split where the weights on both sides are closest.
    let best = lo + 1;
    let bestDiff = Infinity;
    for (let k = lo + 1; k <= hi; k++) {
      const diff = Math.abs(prefix[k]! - prefix[lo]! - (prefix[hi + 1]! - prefix[k]!));
      if (diff < bestDiff) [best, bestDiff] = [k, diff];
    }
    const right = a.label();
    a.jump(JGE, iv[best]!.start, right, null);
    tree(lo, best - 1);
    a.place(right);
    tree(best, hi);
  };
  tree(0, iv.length - 1);
}

function emitVerdict(a: Assembler, v: SyscallRule): void {
  // When a rule is one plain 32-bit compare, its failure path arrives at the next rule with
  // that argument word still in A: the next rule need not load it again.
  let inA: number | null = null;
  for (const rule of v.argRules ?? []) {
    if (rule.when.length === 0) return a.insn(RET_K, actionToRet(rule.action));
    const next = a.label();
    rule.when.forEach((c, i) => emitCondition(a, c, next, i === 0 ? inA : null));
    const only = rule.when.length === 1 ? rule.when[0]! : null;
    inA = only && only.width === 32 && (only.op === "eq" || only.op === "ne") ? SECCOMP_DATA.argLo(only.arg) : null;
    a.insn(RET_K, actionToRet(rule.action));
    a.place(next);
  }
  a.insn(RET_K, actionToRet(v.action));
}

/** Falls through when the condition holds, jumps to `fail` when it does not. */
function emitCondition(a: Assembler, c: ArgCondition, fail: Label, inA: number | null = null): void {
  const value = BigInt(c.value);
  const mask = c.mask !== undefined ? BigInt(c.mask) : (1n << 64n) - 1n;
  const halves: { off: number; v: number; m: number }[] = [
    { off: SECCOMP_DATA.argLo(c.arg), v: Number(value & 0xffffffffn), m: Number(mask & 0xffffffffn) },
  ];
  if (c.width === 64) halves.unshift({ off: SECCOMP_DATA.argHi(c.arg), v: Number(value >> 32n), m: Number(mask >> 32n) });
  const masked = c.op === "masked-eq" || c.op === "masked-ne";
  // (x & 0) == 0 always holds: skip such halves.
  const live = halves.filter((h) => !(masked && h.m === 0 && h.v === 0));
  const load = (h: { off: number; m: number }) => {
    if (h.off === inA && !masked && live.length === 1) return;
    a.insn(LD_W_ABS, h.off);
    if (masked && h.m !== 0xffffffff) a.insn(AND, h.m);
  };
  if (c.op === "eq" || c.op === "masked-eq") {
    for (const h of live) {
      load(h);
      a.jump(JEQ, h.v, null, fail);
    }
    return;
  }
  // ne: holds as soon as one half differs.
  if (live.length === 0) return a.ja(fail);
  const holds = a.label();
  live.forEach((h, i) => {
    load(h);
    const last = i === live.length - 1;
    a.jump(JEQ, h.v, last ? fail : null, holds);
  });
  a.place(holds);
}

export type { Action };
