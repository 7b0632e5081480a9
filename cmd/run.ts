// `jailx run`: arguments → plan → supervisor → exit status. The only place that prints.
import { writeSync } from "node:fs";
import { EXIT, UsageError } from "../sys/errors.ts";
import { missingMountApi } from "../sys/mount.ts";
import { log, reportError, setVerbose } from "./log.ts";
import { endQuietlyOnClosedPipe, isClosedPipe } from "./closed-pipe.ts";
import { helpWidth } from "./help.ts";
import { parseRunArgs, runHelp } from "../jail/options.ts";
import { buildPlan } from "../jail/plan.ts";
import { realHost } from "../jail/host.ts";
import { supervise } from "../jail/supervisor.ts";
import { seccompPlanBuilder, seccompProgram } from "../jail/seccomp.ts";
import { profileChoice } from "../jail/profiles/choice.ts";
import { isSingleThreadedBun, reexecSingleThreaded } from "../sys/reexec.ts";
import { stageUsable } from "../sys/stage.ts";
import { walkInHelper } from "../jail/stage/walk.ts";

export async function runCommand(argv: string[]): Promise<number> {
  const verbose = argv.slice(0, argv.indexOf("--") >>> 0).includes("--verbose");
  setVerbose(verbose);
  // Step timings (ms since the process started) go straight to stderr: the logger's first use
  // costs milliseconds and would distort the very numbers --verbose is there to show.
  const step = verbose ? (s: string) => writeSync(2, `jailx: ${performance.now().toFixed(1)} ms: ${s}\n`) : () => {};
  try {
    const parsed = parseRunArgs(argv);
    if (parsed.help) {
      endQuietlyOnClosedPipe();
      process.stdout.write(runHelp(helpWidth()));
      return EXIT.OK;
    }
    // What came before: Bun's own start and loading the run path's modules.
    step("plan the jail");
    // On the stage path the /etc walk runs in the embedded helper while this process plans.
    const host = realHost(isSingleThreadedBun() || parsed.options["dry-run"] === true ? undefined : walkInHelper);
    // A profile named with --profile, else the built-in one the program's name selects.
    let run = parsed;
    let blame = (err: unknown) => err;
    const choice = profileChoice(parsed.options, parsed.command);
    // Without the stage (a build without a C compiler, vm.memfd_noexec=2) a run takes the Bun
    // path, whose supervisor and init need a single-threaded process: this one runs again as one
    // (before anything is printed, so that nothing is said twice).
    if (!isSingleThreadedBun() && parsed.options["dry-run"] !== true && !stageUsable()) reexecSingleThreaded();
    if (choice) {
      const applied = (await import("../jail/profile-apply.ts")).applyProfile(parsed, choice.ref, host);
      ({ run, blame } = applied);
      if (choice.auto) log.info(`using the built-in profile '${choice.ref}' for ${parsed.command[0]} ('jailx profile show ${choice.ref}'; --no-profile to run without it)`);
      if (verbose) for (const p of applied.skipped) log.info(`profile ${choice.ref}: ${p} does not exist on this host; left out of the view`);
    }
    let plan;
    try {
      plan = buildPlan(run, host, await seccompPlanBuilder(run.options));
    } catch (err) {
      throw blame(err);
    }
    if (parsed.options["dry-run"] === true) {
      endQuietlyOnClosedPipe();
      process.stdout.write(JSON.stringify(plan, null, 2) + "\n");
      if (verbose) {
        // The operations the stage would replay after clone (jail/stage/compile.ts).
        const seccomp = plan.seccomp ? await seccompProgram(plan.seccomp) : null;
        const { describeJail } = await import("../jail/stage/compile.ts");
        const { cloneFlags } = await import("../jail/supervisor.ts");
        process.stdout.write(await describeJail(plan, cloneFlags(plan), seccomp));
      }
      return EXIT.OK;
    }
    // Feature detection, once, before anything is created: a jail is built with the new mount API
    // (without mount_setattr, 5.12+, its flags are set by remounts: jail/child.ts).
    const lacking = missingMountApi();
    if (lacking.length > 0)
      throw new UsageError(`this kernel lacks ${lacking.join(", ")} (ENOSYS), which jailx builds every jail's filesystem with (the new mount API: Linux 5.2+); run a newer kernel`);
    for (const note of plan.notes) log.warn(note);
    // `python3 job.py` from a directory the jail lacks would fail as "can't open '//job.py'".
    if (plan.chdir === null && !plan.cwdInJail && plan.hostCwd !== "/") {
      // Through a symlink, $PWD is not the path jailx sees: name the real one.
      const bind = process.env.PWD && process.env.PWD !== plan.hostCwd ? plan.hostCwd : '"$PWD"';
      log.warn(`the current directory ${plan.hostCwd} is not in the jail, so the program starts in /; bind it (--ro-bind ${bind}) or choose one (--chdir DIR)`);
    }
    step("compile the seccomp filter");
    const seccomp = plan.seccomp ? await seccompProgram(plan.seccomp).catch((err) => Promise.reject(blame(err))) : null;
    // Loaded only when needed: a run without limits creates no cgroup.
    const cgroups = plan.cgroup ? await import("../sys/cgroup/index.ts") : null;
    // Named or detached jails are registered in the state directory (jail/named.ts).
    const named = parsed.options["name"] !== undefined || parsed.options["detach"] === true;
    let out: { status: number; message?: string; stdout?: string };
    try {
      const deps = { seccomp, cgroups, notice: (line: string) => log.warn(line) };
      out = named
        ? await (await import("../jail/named.ts")).superviseNamed(plan, deps, parsed.options, step)
        : isSingleThreadedBun() ? supervise(plan, deps, step)
        : (await import("../jail/stage/supervise.ts")).superviseStaged(plan, deps, step);
    } catch (err) {
      // e.g. a profile's --memory that this host cannot give: name the profile and key
      throw blame(err);
    }
    if (out.message) log.error(out.message);
    if (out.stdout) writeSync(1, out.stdout);
    return out.status;
  } catch (err) {
    if (isClosedPipe(err)) throw err;
    reportError(err, verbose);
    return EXIT.JAILX;
  }
}
