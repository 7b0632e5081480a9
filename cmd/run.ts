// `jailx run`: arguments → plan → supervisor → exit status. The only place that prints.
import { writeSync } from "node:fs";
import { EXIT, UsageError } from "../sys/errors.ts";
import { missingMountApi } from "../sys/mount.ts";
import { log, reportError, setVerbose } from "./log.ts";
import { parseRunArgs, runHelp } from "../jail/options.ts";
import { buildPlan } from "../jail/plan.ts";
import { realHost } from "../jail/host.ts";
import { supervise } from "../jail/supervisor.ts";
import { seccompPlanBuilder, seccompProgram } from "../jail/seccomp.ts";

export async function runCommand(argv: string[]): Promise<number> {
  const verbose = argv.slice(0, argv.indexOf("--") >>> 0).includes("--verbose");
  setVerbose(verbose);
  try {
    const parsed = parseRunArgs(argv);
    if (parsed.help) {
      process.stdout.write(runHelp());
      return EXIT.OK;
    }
    const plan = buildPlan(parsed, realHost(), await seccompPlanBuilder(parsed.options));
    if (parsed.options["dry-run"] === true) {
      process.stdout.write(JSON.stringify(plan, null, 2) + "\n");
      return EXIT.OK;
    }
    // Feature detection, once, before anything is created: a jail is built with the new mount API.
    const lacking = missingMountApi();
    if (lacking.length > 0)
      throw new UsageError(`this kernel lacks ${lacking.join(", ")} (ENOSYS), which jailx builds every jail's filesystem with (mount_setattr: Linux 5.12+); run a newer kernel (Debian 11: the bullseye-backports linux-image-amd64)`);
    for (const note of plan.notes) log.warn(note);
    // Step timings go straight to stderr: the logger's first use costs milliseconds and would
    // distort the very numbers --verbose is there to show.
    const step = verbose ? (s: string) => writeSync(2, `jailx: ${performance.now().toFixed(1)} ms: ${s}\n`) : () => {};
    step("compile the seccomp filter");
    const seccomp = plan.seccomp ? await seccompProgram(plan.seccomp) : null;
    // Loaded only when needed: a run without limits creates no cgroup.
    const cgroups = plan.cgroup ? await import("../sys/cgroup/index.ts") : null;
    const out = supervise(plan, { seccomp, cgroups, notice: (line) => log.warn(line) }, step);
    if (out.message) log.error(out.message);
    return out.status;
  } catch (err) {
    reportError(err, verbose);
    return EXIT.JAILX;
  }
}
