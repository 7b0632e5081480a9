// What a plan means, evaluated straight from the plan data (no BPF): the unit tests compare
// the compiled program, run in the interpreter, against this.
import type { SeccompPlan } from "../../sys/seccomp/policy.ts";
import type { ArgCondition } from "../../sys/seccomp/policy-types.ts";
import { TABLES, type Abi } from "../../sys/seccomp/tables.ts";

function holds(c: ArgCondition, args: readonly bigint[]): boolean {
  let v = BigInt.asUintN(64, args[c.arg] ?? 0n);
  let value = BigInt(c.value);
  let mask = c.mask !== undefined ? BigInt(c.mask) : (1n << 64n) - 1n;
  if (c.width === 32) {
    v &= 0xffffffffn;
    value &= 0xffffffffn;
    mask &= 0xffffffffn;
  }
  switch (c.op) {
    case "eq": return v === value;
    case "ne": return v !== value;
    case "masked-eq": return (v & mask) === value;
    case "masked-ne": return (v & mask) !== value;
  }
}

/** The action the plan gives a syscall name (undefined name = a number no table knows). */
export function expectedAction(plan: SeccompPlan, abi: Abi, name: string | undefined, args: readonly bigint[] = []): string {
  if ((abi === "i386" || abi === "x32") && !plan.openAbis.includes(abi)) return plan.foreignAbiAction;
  if (name === undefined || !TABLES[abi].has(name)) return plan.defaultAction === "allow" ? "errno:38" : plan.defaultAction;
  const rule = plan.syscalls[name] ?? { action: plan.defaultAction };
  for (const r of rule.argRules ?? []) if (r.when.every((c) => holds(c, args))) return r.action;
  return rule.action;
}
