// `jailx learn -o FILE [--merge FILE] [run options] -- PROGRAM ARGS…`: run the program in the
// default jail (as `jailx run` with the same options would), record what it does, and write a
// profile that `jailx run --profile FILE` enforces. The only place of learn that prints.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { EXIT, UsageError } from "../sys/errors.ts";
import { log, reportError, setVerbose } from "./log.ts";
import { parseRunArgs, runHelp } from "../jail/options.ts";
import { buildPlan } from "../jail/plan.ts";
import { realHost } from "../jail/host.ts";
import { supervise } from "../jail/supervisor.ts";
import { seccompPlanBuilder, seccompProgram } from "../jail/seccomp.ts";
import pkg from "../package.json" with { type: "json" };

export interface LearnArgs {
  output: string | null;
  merge: string[];
  notifyAll: boolean;
  recording: string | null;
  rest: string[];
  help: boolean;
}

/** Learn's own flags (before `--`); everything else is a run option. */
export function parseLearnArgs(argv: readonly string[]): LearnArgs {
  const a: LearnArgs = { output: null, merge: [], notifyAll: false, recording: null, rest: [], help: false };
  let i = 0;
  const value = (flag: string) => {
    const v = argv[++i];
    if (v === undefined || v === "--") throw new UsageError(`${flag} needs a file name`);
    return v;
  };
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") break;
    if (arg === "-o" || arg === "--output") a.output = value(arg);
    else if (arg.startsWith("--output=")) a.output = arg.slice(9);
    else if (arg === "--merge") a.merge.push(value(arg));
    else if (arg.startsWith("--merge=")) a.merge.push(arg.slice(8));
    else if (arg === "--notify-all") a.notifyAll = true;
    else if (arg === "--recording") a.recording = value(arg);
    else if (arg === "-h" || arg === "--help") a.help = true;
    else a.rest.push(arg);
  }
  a.rest.push(...argv.slice(i));
  return a;
}

export function learnHelp(): string {
  return [
    "Learn a profile: run a program in the default jail, record every syscall, path, socket and",
    "id change of every process and thread, and write what it needs as a profile.",
    "",
    "Usage: jailx learn -o FILE [--merge FILE] [run options] [--] PROGRAM [ARGS...]",
    "",
    "  -o, --output FILE    write the profile here (required)",
    "  --merge FILE         start from this profile (repeatable): the result allows what each run needed",
    "  --notify-all         stop on every syscall, @default and read/write included (slower; for measuring)",
    "  --recording FILE     also write the raw recording as JSON",
    "",
    "Run options are those of 'jailx run' (below); the learning jail is the jail they describe.",
    "Exit status: the program's (the profile is written unless the program could not be started:",
    "126, 127), 125 for jailx's own errors.",
    "",
    ...runHelp().split("\n").slice(4),
  ].join("\n");
}

export async function learnCommand(argv: string[]): Promise<number> {
  const verbose = argv.slice(0, argv.indexOf("--") >>> 0).includes("--verbose");
  setVerbose(verbose);
  try {
    const la = parseLearnArgs(argv);
    if (la.help) {
      process.stdout.write(learnHelp());
      return EXIT.OK;
    }
    const parsed = parseRunArgs(la.rest);
    if (parsed.help) {
      process.stdout.write(learnHelp());
      return EXIT.OK;
    }
    if (!la.output) throw new UsageError("jailx learn needs -o FILE: where to write the profile");
    if (parsed.options["allow-new-privs"] === true)
      throw new UsageError("--allow-new-privs: learning needs no_new_privs (its filter is installed without privileges); remove it");
    if (parsed.options["profile"] !== undefined)
      throw new UsageError("--profile: learning runs in the jail the run options describe, not under a profile; to extend a profile, give it with --merge FILE");
    for (const m of la.merge) if (!existsSync(m)) throw new UsageError(`--merge ${m}: no such file; learn it first with -o ${m}`);
    const plan = buildPlan(parsed, realHost(), await seccompPlanBuilder(parsed.options));
    if (parsed.options["dry-run"] === true) {
      process.stdout.write(JSON.stringify(plan, null, 2) + "\n");
      return EXIT.OK;
    }
    // Loaded before the jail exists: parse errors in --merge files stop us before anything runs.
    const { LearnSession } = await import("../jail/learn/session.ts");
    const { MAX_PATHS } = await import("../jail/learn/recorder.ts");
    const { buildProfile } = await import("../jail/learn/profile.ts");
    const { mergeProfiles, parseProfile, renderProfile } = await import("../jail/learn/toml.ts");
    const merged = la.merge.map((m) => parseProfile(readFileSync(m, "utf8"), m));
    const seccomp = plan.seccomp ? await seccompProgram(plan.seccomp) : null;
    const cgroups = plan.cgroup ? await import("../sys/cgroup/index.ts") : null;
    const session = new LearnSession(plan.command.join(" "), plan.mounts, la.notifyAll);
    const out = supervise(plan, { seccomp, cgroups, observer: session });
    session.close();
    if (session.failure) {
      log.error(session.failure);
      return EXIT.JAILX;
    }
    if (out.message) log.error(out.message);
    // jailx's own error, or the program could not be started: there is nothing to learn from.
    // (A message with these statuses is jailx's: the program's own exit carries none.)
    if (out.message && [EXIT.JAILX, 126, 127].includes(out.status)) return out.status;
    const rec = session.recorder.rec;
    if (la.recording) writeFileSync(la.recording, JSON.stringify(rec, null, 2) + "\n");
    let profile = buildProfile(rec, {
      mounts: plan.mounts,
      keptCaps: plan.caps.keep,
      net: plan.net,
      jailx: pkg.version,
      date: new Date().toISOString().slice(0, 10),
      runOptions: parsed.options,
    });
    for (const m of merged) profile = mergeProfiles(m, profile);
    // Written whole or not at all: a reader never sees half a profile.
    const tmp = `${la.output}.tmp-${process.pid}`;
    writeFileSync(tmp, renderProfile(profile));
    renameSync(tmp, la.output);
    log.info(`learned ${Object.values(rec.syscalls).flat().length} syscalls, ${Object.keys(rec.paths).length} paths in ${session.notifications} notifications → ${la.output}`);
    if (session.errors.length) log.warn(`${session.errors.length} notifications could not be read or answered (first: ${session.errors[0]}); the profile may miss what they did`);
    if (rec.truncated) log.warn(`the program named more than ${MAX_PATHS} paths; the rest were not recorded and the profile is incomplete`);
    if (rec.unknownSyscalls.length) log.warn(`syscalls no table names were used (${rec.unknownSyscalls.join(", ")}): a profile cannot list them`);
    if (out.status !== 0) log.warn(`the program exited with status ${out.status}: the profile covers what it did until then`);
    return out.status;
  } catch (err) {
    reportError(err, verbose);
    return EXIT.JAILX;
  }
}
