// Decodes any seccomp filter (jailx's, Docker's, bwrap's, systemd's) into "syscall → action"
// by running it in the interpreter for every syscall number of every ABI the machine has,
// rather than by recognising one compiler's patterns.
import { describeRet } from "./actions.ts";
import { BPF, SECCOMP_DATA, decode, type Insn } from "./bpf.ts";
import { runFilter, type RunResult, type SeccompData } from "./interp.ts";
import { HOT_SYSCALLS } from "./compile.ts";
import { AUDIT_ARCH, MACHINE_ABIS, TABLES, X32_SYSCALL_BIT, currentMachine, type Abi, type Machine } from "./tables.ts";

/** What one syscall gets. */
export interface SyscallVerdict {
  name: string;
  /** The number seccomp sees (x32 numbers include 0x40000000). */
  nr: number;
  /** The action with every argument zero, e.g. "allow", "errno:EPERM", "kill", "log". */
  action: string;
  /** True when the filter read an argument of this syscall: the action depends on it. */
  argDependent: boolean;
  /** When argDependent: every action seen while probing argument values (includes `action`). */
  actions?: string[];
}

/** The filter's behaviour for one ABI (AUDIT_ARCH value, plus the x32 number bit). */
export interface AbiSummary {
  abi: Abi;
  auditArch: number;
  /** Set when every syscall of the ABI gets this same action regardless of arguments. */
  wholeAbiAction?: string;
  /** The most common action among the ABI's known syscalls (the policy's "default"). */
  defaultAction: string;
  /** The action for a number no table knows (e.g. a syscall newer than the tables). */
  unknownNrAction: string;
  /** Every syscall the table knows, by number. */
  syscalls: SyscallVerdict[];
  /** BPF instructions executed to reach the verdict, for the hot syscalls this ABI has. */
  hotPathSteps: Record<string, number>;
}

export interface FilterSummary {
  /** Program length in instructions (for several filters: their sum). */
  instructions: number;
  /** How many filters were combined (a process can have a stack of them). */
  filters: number;
  /** The action for an architecture the machine does not have (e.g. AUDIT_ARCH_ARM). */
  unknownArchAction: string;
  /** One entry per ABI of the machine (x86_64: x86_64, i386, x32; aarch64: aarch64). */
  abis: AbiSummary[];
}

const FOREIGN_PROBE_ARCH = 0x12345678;

export function explainFilter(prog: Buffer, machine: Machine = currentMachine()): FilterSummary {
  return explainFilters([prog], machine);
}

/**
 * The combined effect of a stack of filters (as readProcessFilters returns them, oldest
 * first): the kernel runs every filter and keeps the most severe action; among equally severe
 * ones, the newest filter's (kernel/seccomp.c, seccomp_run_filters).
 */
export function explainFilters(progs: readonly Buffer[], machine: Machine = currentMachine()): FilterSummary {
  if (progs.length === 0) throw new Error("explainFilters: no filter");
  const stack = progs.map(decode);
  const probes = [...new Set(stack.flatMap(probeValues))].slice(0, 512);
  const abis = MACHINE_ABIS[machine].map((abi) => summarizeAbi(stack, abi, probes));
  return {
    instructions: stack.reduce((n, p) => n + p.length, 0),
    filters: stack.length,
    unknownArchAction: describeRet(runStack(stack, { nr: 0, arch: FOREIGN_PROBE_ARCH }).ret),
    abis,
  };
}

/** Runs every filter of a stack on the same data and combines the results like the kernel. */
export function runStack(stack: readonly Insn[][], data: SeccompData | Buffer): RunResult {
  let best: RunResult | null = null;
  let steps = 0;
  const loads: number[] = [];
  for (let i = stack.length - 1; i >= 0; i--) {
    const r = runFilter(stack[i]!, data);
    steps += r.steps;
    loads.push(...r.loads);
    // Severity: the action part compared as a signed 32-bit number, lower is more severe.
    if (!best || (r.ret & 0xffff0000) >> 0 < (best.ret & 0xffff0000) >> 0) best = r;
  }
  return { ret: best!.ret, steps, loads };
}

function auditArchOf(abi: Abi): number {
  return abi === "x32" ? AUDIT_ARCH.x86_64 : AUDIT_ARCH[abi];
}

function summarizeAbi(insns: Insn[][], abi: Abi, probes: number[]): AbiSummary {
  const arch = auditArchOf(abi);
  const seen = new Set<number>();
  const syscalls: SyscallVerdict[] = [];
  const hotPathSteps: Record<string, number> = {};
  const hot = new Set(HOT_SYSCALLS);
  for (const [name, nr] of [...TABLES[abi]].sort((a, b) => a[1] - b[1])) {
    if (seen.has(nr)) continue;
    seen.add(nr);
    syscalls.push(verdictFor(insns, arch, name, nr, probes));
    if (hot.has(name)) hotPathSteps[name] = runStack(insns, { nr, arch }).steps;
  }
  const counts = new Map<string, number>();
  for (const s of syscalls) counts.set(s.action, (counts.get(s.action) ?? 0) + 1);
  const defaultAction = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "?";
  const uniform = counts.size === 1 && syscalls.every((s) => !s.argDependent);
  const unknownNr = (abi === "x32" ? X32_SYSCALL_BIT : 0) + 0x3ff0;
  return {
    abi,
    auditArch: arch,
    ...(uniform ? { wholeAbiAction: defaultAction } : {}),
    defaultAction,
    unknownNrAction: describeRet(runStack(insns, { nr: unknownNr, arch }).ret),
    syscalls,
    hotPathSteps,
  };
}

function verdictFor(insns: Insn[][], arch: number, name: string, nr: number, probes: number[]): SyscallVerdict {
  const base = runStack(insns, { nr, arch });
  const action = describeRet(base.ret);
  const argWords = [...new Set(base.loads.filter((o) => o >= SECCOMP_DATA.argLo(0)))];
  if (argWords.length === 0) return { name, nr, action, argDependent: false };
  // Probe each argument word the filter looked at with every constant the program compares
  // against (and the masks it applies), one word at a time, the others zero.
  const actions = new Set([action]);
  const pending = [...argWords];
  const probed = new Set<number>();
  while (pending.length) {
    const off = pending.pop()!;
    if (probed.has(off)) continue;
    probed.add(off);
    for (const v of probes) {
      const data = Buffer.alloc(SECCOMP_DATA.size);
      data.writeInt32LE(nr | 0, SECCOMP_DATA.nr);
      data.writeUInt32LE(arch >>> 0, SECCOMP_DATA.arch);
      data.writeUInt32LE(v >>> 0, off);
      const r = runStack(insns, data);
      actions.add(describeRet(r.ret));
      for (const o of r.loads) if (o >= SECCOMP_DATA.argLo(0) && !probed.has(o)) pending.push(o);
    }
  }
  return { name, nr, action, argDependent: true, actions: [...actions].sort() };
}

/** Every constant the program compares with or masks by, plus 0 and all-ones. */
function probeValues(insns: Insn[]): number[] {
  const set = new Set<number>([0, 0xffffffff]);
  for (const ins of insns) {
    const cls = ins.code & 7;
    if ((cls === BPF.JMP && (ins.code & 0xf0) !== BPF.JA) || cls === BPF.ALU) {
      set.add(ins.k >>> 0);
      set.add((ins.k + 1) >>> 0);
    }
  }
  return [...set].slice(0, 256);
}
