// The data a seccomp plan is made of. Plain JSON: `jailx run --dry-run` prints it.
import type { Action } from "./actions.ts";

/**
 * One comparison of a syscall argument. Values are strings (decimal or 0x hex) so that 64-bit
 * values survive JSON. width 32 compares only the low half (what the kernel uses for an int).
 * "masked-eq"/"masked-ne": (arg & mask) == / != value.
 */
export interface ArgCondition {
  arg: number;
  op: "eq" | "ne" | "masked-eq" | "masked-ne";
  value: string;
  mask?: string;
  width: 32 | 64;
}

/** When every condition holds (an empty list always holds), the syscall gets `action`. */
export interface ArgRule {
  when: ArgCondition[];
  action: Action;
  why?: string;
}

export interface SyscallRule {
  /** What happens when no argument rule matched. */
  action: Action;
  /** Checked in order before `action`; the first rule whose conditions all hold decides. */
  argRules?: ArgRule[];
}
