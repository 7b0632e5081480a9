// Turns `jailx run` seccomp options (or a TOML policy file) into a SeccompPlan: plain data,
// validated, by syscall name. The compiler turns a plan into BPF for one machine.
import type { ParsedOptions } from "../../jail/options.ts";
import { UsageError } from "../errors.ts";
import { parseAction, type Action } from "./actions.ts";
import { ALWAYS_DENIED, CAPABILITY_GATED, DEFAULT_DENY_ACTION, GUARDS, OPT_IN_GROUPS, REUSEPORT_RULE, SPECIAL_ACTIONS } from "./default-policy.ts";
import { ABI_GROUPS, GROUPS, expandGroup } from "./groups.ts";
import type { ArgRule, SyscallRule } from "./policy-types.ts";
import { isKnownSyscall } from "./tables.ts";
import { readPolicyFile, type PolicyFile } from "./policy-file.ts";

export type { ArgCondition, ArgRule, SyscallRule } from "./policy-types.ts";

export interface SeccompPlan {
  /** "default", or the policy file's path. */
  source: string;
  /** Action for syscalls the plan does not name ("allow" = deny-list mode). */
  defaultAction: Action;
  /** Syscalls with their own action or argument rules, by name, sorted. */
  syscalls: Record<string, SyscallRule>;
  /** On x86_64: the i386 (int 0x80) and x32 ABIs. Closed ones get `foreignAbiAction`. */
  openAbis: ("i386" | "x32")[];
  foreignAbiAction: Action;
  /** SECCOMP_FILTER_FLAG_LOG: log every action but allow. */
  log: boolean;
}

/** Syscalls the launcher and every program need; a policy may not refuse them. */
const REQUIRED = ["execve", "execveat", "exit", "exit_group", "rt_sigreturn", "restart_syscall"];

export function seccompPlanFromOptions(o: ParsedOptions, keptCaps: readonly string[]): SeccompPlan | null {
  const mode = str(o["seccomp"]) ?? "default";
  if (mode === "none") return null;
  const file: PolicyFile = mode === "default" ? { base: "default" } : readPolicyFile(mode);
  const defaultText = str(o["seccomp-default-action"]) ?? file.defaultAction;
  const defaultAction = defaultText ? parseAction(defaultText, "--seccomp-default-action") : "allow";
  return buildPlan({
    source: mode,
    base: file.base ?? "default",
    keptCaps,
    defaultAction,
    allow: [...(file.allow ?? []), ...list(o["seccomp-allow"])],
    deny: [...(file.deny ?? []), ...list(o["seccomp-deny"])],
    denyAction: file.denyAction,
    foreignAbiAction: file.foreignAbiAction,
    rules: file.rules ?? {},
    log: o["seccomp-log"] === true || file.log === true,
    allowReuseport: o["allow-reuseport"] === true,
  });
}

export interface PlanInput {
  source: string;
  base: "default" | "empty";
  keptCaps: readonly string[];
  defaultAction: Action;
  allow: readonly string[];
  deny: readonly string[];
  denyAction?: Action;
  /** For syscalls through a closed foreign ABI (i386, x32); ENOSYS unless given. */
  foreignAbiAction?: Action;
  rules: Record<string, ArgRule[]>;
  log: boolean;
  /** Drop the default policy's SO_REUSEPORT guard (`--allow-reuseport`). */
  allowReuseport?: boolean;
}

export function buildPlan(p: PlanInput): SeccompPlan {
  const allowList = p.defaultAction !== "allow" && p.defaultAction !== "log";
  const denyAction = p.denyAction ?? (allowList ? p.defaultAction : DEFAULT_DENY_ACTION);
  const actions = new Map<string, Action>();
  const guards = new Map<string, ArgRule[]>();
  const openAbis = new Set<"i386" | "x32">();
  const baseRefused = new Set<string>();

  if (p.base === "default") {
    const caps = new Set(p.keptCaps.map((c) => c.toLowerCase().replace(/^cap_/, "")));
    for (const n of names(ALWAYS_DENIED, "default policy")) actions.set(n, DEFAULT_DENY_ACTION);
    for (const [cap, members] of Object.entries(CAPABILITY_GATED)) {
      if (!caps.has(cap)) for (const n of names(members, "default policy")) actions.set(n, DEFAULT_DENY_ACTION);
    }
    for (const [n, a] of Object.entries(SPECIAL_ACTIONS)) actions.set(n, a);
    for (const n of actions.keys()) baseRefused.add(n);
    // In an allow-list the refusals are the user's default action (kill, errno:N…), except
    // the special answers (clone3's ENOSYS) that libc relies on.
    if (allowList) for (const n of [...actions.keys()]) if (!(n in SPECIAL_ACTIONS)) actions.delete(n);
    for (const [n, rules] of Object.entries(GUARDS)) guards.set(n, rules.filter((r) => !(p.allowReuseport && r === REUSEPORT_RULE)));
  }
  // An allow-list always lets the basics through (as systemd's @default).
  if (allowList) for (const n of expandGroup("@default")) if (!baseRefused.has(n)) actions.set(n, "allow");
  for (const [n, rules] of Object.entries(p.rules)) guards.set(n, [...(guards.get(n) ?? []), ...rules]);

  for (const item of p.allow) {
    const abi = ABI_GROUPS[item];
    if (abi) {
      openAbis.add(abi);
      continue;
    }
    const lifts = !item.startsWith("@") || OPT_IN_GROUPS.includes(item);
    for (const n of names([item], "--seccomp-allow")) {
      if (baseRefused.has(n) && !lifts) continue;
      actions.set(n, "allow");
      // Named on its own (not through a group): the user asked for all of it, guards included.
      if (!item.startsWith("@")) guards.delete(n);
    }
    // Asking for namespaces also lifts clone's namespace-flag guard.
    if (item === "@namespaces" || item === "unshare") guards.delete("clone");
  }
  for (const item of p.deny) {
    if (ABI_GROUPS[item]) {
      openAbis.delete(ABI_GROUPS[item]!);
      continue;
    }
    for (const n of names([item], "--seccomp-deny")) {
      if (REQUIRED.includes(n)) {
        throw new UsageError(`--seccomp-deny ${item}: refuses '${n}', which the jail needs to start or exit; allow it`);
      }
      actions.set(n, denyAction);
    }
  }
  for (const n of REQUIRED) if (allowList || actions.has(n)) actions.set(n, "allow");

  const syscalls: Record<string, SyscallRule> = {};
  for (const n of [...new Set([...actions.keys(), ...guards.keys()])].sort()) {
    const action = actions.get(n) ?? p.defaultAction;
    const lets = action === "allow" || action === "log";
    const rules = lets ? guards.get(n) : undefined;
    if (action === p.defaultAction && !rules?.length) continue;
    syscalls[n] = rules?.length ? { action, argRules: rules } : { action };
  }
  return {
    source: p.source,
    defaultAction: p.defaultAction,
    syscalls,
    openAbis: [...openAbis].sort(),
    foreignAbiAction: p.foreignAbiAction ?? "errno:38",
    log: p.log,
  };
}

/** Expand names and @groups; unknown ones are the user's mistake. */
function names(items: readonly string[], flag: string): string[] {
  const out: string[] = [];
  for (const item of items) {
    if (item.startsWith("@")) {
      if (!GROUPS[item]) {
        throw new UsageError(`${flag}: unknown syscall group '${item}': use one of ${[...Object.keys(GROUPS), ...Object.keys(ABI_GROUPS)].join(", ")} (see 'jailx seccomp groups')`);
      }
      out.push(...expandGroup(item));
    } else {
      if (!/^\w+$/.test(item) || !isKnownSyscall(item)) {
        throw new UsageError(`${flag}: unknown syscall '${item}': give a syscall name as in syscall(2), e.g. 'mount', or a @group`);
      }
      out.push(item);
    }
  }
  return out;
}

function str(v: ParsedOptions[string]): string | undefined {
  if (Array.isArray(v)) return v[v.length - 1];
  return typeof v === "string" ? v : undefined;
}

function list(v: ParsedOptions[string]): string[] {
  if (Array.isArray(v)) return v.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
  if (typeof v === "string") return v.split(",").map((s) => s.trim()).filter(Boolean);
  return [];
}
