// `jailx seccomp show|explain|groups`: look at the filter `jailx run` would install, and decode
// any filter (a file of sock_filter bytes, or a running process's via ptrace) into
// "syscall → action". Data goes to stdout, logs to stderr.
import { readFileSync, writeFileSync } from "node:fs";
import { defineCommand } from "citty";
import { parseRunArgs } from "../jail/options.ts";
import { DEFAULT_CAPS } from "../sys/caps.ts";
import { UsageError } from "../sys/errors.ts";
import {
  GROUPS, compileToInsns, disassemble, encode, expandGroup, explainFilter, explainFilters, formatAction, readProcessFilters,
  currentMachine, seccompPlanFromOptions, type AbiSummary, type FilterSummary, type Machine,
} from "../sys/seccomp/index.ts";

/** --arch: the machine a filter is for (default: this one). */
function machineArg(v: unknown): Machine {
  if (v === undefined || v === true) return currentMachine();
  if (v === "x86_64" || v === "aarch64") return v;
  throw new UsageError(`--arch ${String(v)}: unknown architecture; use x86_64 or aarch64`);
}

const POLICY_FLAGS = new Set(["seccomp", "seccomp-allow", "seccomp-deny", "seccomp-default-action", "seccomp-log", "allow-reuseport"]);

/** Our own flags, taken out before the run-option parser sees the rest. */
function takeFlag(args: string[], name: string, hasValue: boolean): string | boolean | undefined {
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  const a = args[i]!;
  if (!hasValue) {
    args.splice(i, 1);
    return true;
  }
  if (a.includes("=")) {
    args.splice(i, 1);
    return a.slice(a.indexOf("=") + 1);
  }
  const v = args[i + 1];
  if (v === undefined) throw new UsageError(`--${name} needs a value`);
  args.splice(i, 2);
  return v;
}

const show = defineCommand({
  meta: { name: "show", description: "print the filter `jailx run` would install for these seccomp options" },
  args: {
    seccomp: { type: "string", valueHint: "default|none|FILE", description: "the policy: built-in, none, or a TOML policy file" },
    "seccomp-allow": { type: "string", valueHint: "NAME|@group", description: "allow a syscall or group (repeatable)" },
    "seccomp-deny": { type: "string", valueHint: "NAME|@group", description: "deny a syscall or group (repeatable)" },
    "seccomp-default-action": { type: "string", valueHint: "errno[:N]|kill|log|allow", description: "action for syscalls no rule names" },
    "seccomp-log": { type: "boolean", description: "log denials" },
    "allow-reuseport": { type: "boolean", description: "drop the SO_REUSEPORT rule" },
    caps: { type: "string", valueHint: "CAP,CAP", description: "capabilities the jail keeps, comma-separated (default: jailx run's default set)" },
    all: { type: "boolean", description: "list every syscall, not only those whose action differs from the ABI's default" },
    numbers: { type: "boolean", description: "give each syscall's number after its name (x32: with 0x40000000)" },
    bpf: { type: "boolean", description: "print the BPF disassembly (syscall numbers) instead of the names" },
    plan: { type: "boolean", description: "print the policy plan as JSON instead" },
    output: { type: "string", valueHint: "FILE", description: "also write the raw filter (sock_filter array) to FILE" },
    arch: { type: "string", valueHint: "x86_64|aarch64", description: "x86_64 or aarch64 (default: this machine)" },
  },
  run({ rawArgs }) {
    const args = [...rawArgs];
    const caps = takeFlag(args, "caps", true);
    const asPlan = takeFlag(args, "plan", false) === true;
    const all = takeFlag(args, "all", false) === true;
    const numbers = takeFlag(args, "numbers", false) === true;
    const bpf = takeFlag(args, "bpf", false) === true;
    takeFlag(args, "verbose", false); // every command takes it (cmd/main.ts)
    const output = takeFlag(args, "output", true);
    const machine = machineArg(takeFlag(args, "arch", true));
    const { options, command } = parseRunArgs(args);
    if (command.length) throw new UsageError(`unexpected argument '${command[0]}': 'jailx seccomp show' takes only seccomp options`);
    for (const k of Object.keys(options)) {
      if (!POLICY_FLAGS.has(k)) throw new UsageError(`--${k} is not a seccomp option: give --seccomp, --seccomp-allow, --seccomp-deny, --seccomp-default-action, --seccomp-log or --allow-reuseport`);
    }
    const kept = typeof caps === "string" ? caps.split(",").map((s) => s.trim()).filter(Boolean) : DEFAULT_CAPS;
    const plan = seccompPlanFromOptions(options, kept);
    if (!plan) {
      process.stdout.write("no filter (--seccomp none)\n");
      return;
    }
    if (asPlan) {
      process.stdout.write(JSON.stringify(plan, null, 2) + "\n");
      return;
    }
    const insns = compileToInsns(plan, machine);
    const prog = encode(insns);
    if (typeof output === "string") writeFileSync(output, prog);
    // Names per ABI come from running the program itself over every syscall (the same decoder
    // as `explain`), so what is shown is what the kernel will do, not what the policy meant.
    if (bpf) process.stdout.write(disassemble(insns) + "\n");
    else process.stdout.write(formatSummary(`jailx run's filter`, explainFilter(prog, machine), { all, numbers }));
    process.stdout.write(`# ${machine}: ${insns.length} instructions, ${insns.length * 8} bytes; default action ${formatAction(plan.defaultAction)}` +
      `${plan.log ? "; SECCOMP_FILTER_FLAG_LOG" : ""}; caps kept: ${kept.join(",") || "none"}\n`);
  },
});

const explain = defineCommand({
  meta: { name: "explain", description: "decode a filter into syscall → action: a file of sock_filter bytes, or --pid PID (root)" },
  args: {
    file: { type: "positional", required: false, description: "raw filter (e.g. from 'jailx seccomp show --output', seccomp_export_bpf)" },
    pid: { type: "string", valueHint: "PID", description: "read the filters of this running process (PTRACE_SECCOMP_GET_FILTER; root only)" },
    all: { type: "boolean", description: "list every syscall, not only those that differ from the default" },
    numbers: { type: "boolean", description: "give each syscall's number after its name" },
    json: { type: "boolean", description: "print the summary as JSON" },
    arch: { type: "string", valueHint: "x86_64|aarch64", description: "the machine the filter is for: x86_64 or aarch64 (default: this one)" },
  },
  run({ args }) {
    const filters: { label: string; prog: Buffer }[] = [];
    if (args.pid !== undefined) {
      const pid = Number(args.pid);
      if (!Number.isInteger(pid) || pid <= 0) throw new UsageError(`--pid ${args.pid}: not a process id; give a positive integer`);
      readProcessFilters(pid).forEach((prog, i) => filters.push({ label: `pid ${pid} filter ${i} (oldest first)`, prog }));
      if (filters.length === 0) process.stdout.write(`pid ${pid}: no seccomp filter\n`);
    } else if (typeof args.file === "string") {
      let prog: Buffer;
      try {
        prog = readFileSync(args.file);
      } catch (e) {
        throw new UsageError(`${args.file}: cannot read (${(e as NodeJS.ErrnoException).code}): give a file of raw sock_filter bytes`);
      }
      if (prog.length === 0 || prog.length % 8) throw new UsageError(`${args.file}: ${prog.length} bytes is not a whole number of 8-byte BPF instructions`);
      filters.push({ label: args.file, prog });
    } else throw new UsageError("give a filter FILE or --pid PID");
    const machine = machineArg(args.arch);
    const summaries = filters.map((f) => ({ label: f.label, summary: explainFilter(f.prog, machine) }));
    // A stack of filters: what the kernel applies is their combination.
    if (filters.length > 1) summaries.push({ label: `pid ${args.pid}: all ${filters.length} filters combined (what the kernel applies)`, summary: explainFilters(filters.map((f) => f.prog), machine) });
    if (args.json) {
      process.stdout.write(JSON.stringify(summaries, null, 2) + "\n");
      return;
    }
    for (const s of summaries) process.stdout.write(formatSummary(s.label, s.summary, { all: args.all === true, numbers: args.numbers === true }));
  },
});

interface ListStyle {
  /** every syscall, not only those whose action differs from the ABI's default */
  all: boolean;
  /** name(number) instead of name */
  numbers: boolean;
}

function formatSummary(label: string, s: FilterSummary, style: ListStyle): string {
  const lines = [`${label}: ${s.instructions} instructions; unknown architectures → ${s.unknownArchAction}`];
  for (const abi of s.abis) lines.push(...formatAbi(abi, style));
  return lines.join("\n") + "\n";
}

function formatAbi(a: AbiSummary, { all, numbers }: ListStyle): string[] {
  if (a.wholeAbiAction) return [`  ${a.abi}: every syscall → ${a.wholeAbiAction}`];
  const out = [`  ${a.abi}: default → ${a.defaultAction}; numbers no table knows → ${a.unknownNrAction}`];
  const byAction = new Map<string, string[]>();
  for (const v of a.syscalls) {
    if (!all && v.action === a.defaultAction && !v.argDependent) continue;
    const key = v.argDependent ? `depends on arguments (${v.actions!.join(" | ")})` : v.action;
    (byAction.get(key) ?? byAction.set(key, []).get(key)!).push(numbers ? `${v.name}(${v.nr >= 0x40000000 ? `0x${v.nr.toString(16)}` : v.nr})` : v.name);
  }
  for (const [action, names] of byAction) out.push(`    ${action}: ${names.join(" ")}`);
  const hot = Object.entries(a.hotPathSteps).map(([n, k]) => `${n} ${k}`).join(", ");
  if (hot) out.push(`    instructions to a verdict: ${hot}`);
  return out;
}

const groups = defineCommand({
  meta: { name: "groups", description: "list the syscall groups usable with --seccomp-allow/--seccomp-deny" },
  run() {
    for (const [name, g] of Object.entries(GROUPS)) {
      process.stdout.write(`${name}  ${g.description}\n    ${expandGroup(name).join(" ")}\n`);
    }
    process.stdout.write("@abi-i386  (x86_64) let the i386 entry (int 0x80) through, policed by the same rules\n");
    process.stdout.write("@abi-x32  (x86_64) let x32 syscalls through, policed by the same rules\n");
  },
});

export default defineCommand({
  meta: { name: "seccomp", description: "show the seccomp filter jailx installs; decode filters (files or processes)" },
  subCommands: { show, explain, groups },
});
