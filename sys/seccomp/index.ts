// The seccomp facility: policy → plan → BPF → kernel, and back (decode anyone's filter).
export { seccompPlanFromOptions, buildPlan as buildSeccompPlan, type SeccompPlan, type ArgCondition, type ArgRule, type SyscallRule } from "./policy.ts";
export { compileSeccompPlan, compileToInsns, HOT_SYSCALLS } from "./compile.ts";
export { installSeccompFilter } from "./install.ts";
export { readProcessFilters, seccompMode } from "./ptrace.ts";
export { explainFilter, explainFilters, runStack, type FilterSummary, type AbiSummary, type SyscallVerdict } from "./explain.ts";
export { disassemble } from "./disasm.ts";
export { decode, encode, type Insn } from "./bpf.ts";
export { runFilter, type SeccompData, type RunResult } from "./interp.ts";
export { describeRet, formatAction } from "./actions.ts";
export { GROUPS, expandGroup } from "./groups.ts";
export { TABLES, AUDIT_ARCH, X32_SYSCALL_BIT, currentMachine, type Abi, type Machine } from "./tables.ts";
