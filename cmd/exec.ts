// `jailx exec NAME [--user U] [-t] -- CMD...`: run CMD inside a running named jail (jail/join.ts).
// Like `run`, it splits its own argv at `--` and is re-executed single-threaded (sys/reexec.ts).
import { EXIT, UsageError } from "../sys/errors.ts";
import { isTerminal } from "../sys/proc.ts";
import { log, reportError, setVerbose } from "./log.ts";
import { findLive } from "../jail/state.ts";
import { joinJail } from "../jail/join.ts";
import { isSingleThreadedBun, reexecSingleThreaded } from "../sys/reexec.ts";
import { stageUsable } from "../sys/stage.ts";
import { seccompProgram } from "../jail/seccomp.ts";
import { closeFd } from "../sys/proc.ts";
import { didYouMean, twoColumns, wrapWords } from "../jail/cli-text.ts";
import { helpWidth } from "./help.ts";
import { endQuietlyOnClosedPipe, isClosedPipe } from "./closed-pipe.ts";

/** `jailx exec --help`, wrapped to `width` like every command's help (cmd/help.ts). */
export function execHelp(width: number): string {
  const para = (t: string) => wrapWords(t, width).join("\n");
  return [
    para("Run a command inside a running named jail: its namespaces, root and cgroup, with the same user, capabilities, no_new_privs, Landlock scope and seccomp filter as the jail's program."),
    "",
    "Usage: jailx exec NAME [options] [--] COMMAND [ARGS...]",
    "",
    ...twoColumns(EXEC_OPTIONS.map(([flag, , help]) => [flag, help] as const), width),
    "",
    para("Exit status: the command's own, 128+N for signal N, 125 jailx error, 126/127 cannot execute/not found."),
    "",
  ].join("\n");
}

/** exec's own options: flag as shown, long name, help. */
const EXEC_OPTIONS: readonly (readonly [string, string, string])[] = [
  ["--user USER|UID[:GID]", "user", "run as this user of the jail (default: the jail program's user); capabilities stay within the jail's bounding set"],
  ["-t, --tty", "tty", "keep this terminal and process group (job control, Ctrl-C, resize); without it the command runs in a new session"],
  ["--verbose", "verbose", "show stack traces"],
  ["-h, --help", "help", "show this help"],
];

interface ExecArgs {
  name: string;
  user?: string;
  tty: boolean;
  verbose: boolean;
  command: string[];
  help: boolean;
}

export function parseExecArgs(argv: readonly string[]): ExecArgs {
  const a: ExecArgs = { name: "", tty: false, verbose: false, command: [], help: false };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      i++;
      break;
    }
    if (arg === "-h" || arg === "--help") a.help = true;
    else if (arg === "-t" || arg === "--tty") a.tty = true;
    else if (arg === "--verbose") a.verbose = true;
    else if (arg === "--user" || arg.startsWith("--user=")) {
      const v = arg === "--user" ? argv[++i] : arg.slice(7);
      if (v === undefined || v === "") throw new UsageError("option '--user' needs a value USER|UID[:GID]");
      a.user = v;
    } else if (arg.startsWith("-")) {
      const typed = arg.replace(/^--?/, "").split("=")[0]!;
      throw new UsageError(`unknown option '${arg.split("=")[0]}'${didYouMean(typed, EXEC_OPTIONS.map(([, n]) => n))}: see 'jailx exec --help'`);
    }
    else if (a.name === "") a.name = arg;
    else break;
  }
  a.command = argv.slice(i);
  if (a.help) return a;
  if (a.name === "") throw new UsageError("give the jail's name: jailx exec NAME -- COMMAND (see 'jailx ps')");
  if (a.command.length === 0) throw new UsageError(`give a command to run in jail '${a.name}': jailx exec ${a.name} -- COMMAND`);
  return a;
}

export async function execCommand(argv: string[]): Promise<number> {
  const verbose = argv.slice(0, argv.indexOf("--") >>> 0).includes("--verbose");
  setVerbose(verbose);
  try {
    const a = parseExecArgs(argv);
    if (a.help) {
      endQuietlyOnClosedPipe();
      process.stdout.write(execHelp(helpWidth()));
      return EXIT.OK;
    }
    if (a.tty && !isTerminal(0)) throw new UsageError("-t needs a terminal on stdin; drop -t to run without one");
    // Without the stage (no C compiler at build time, vm.memfd_noexec=2): the Bun way, which
    // needs a single-threaded process.
    if (!isSingleThreadedBun() && !stageUsable()) reexecSingleThreaded();
    const j = findLive(a.name);
    try {
      const seccomp = j.record.plan.seccomp ? await seccompProgram(j.record.plan.seccomp) : null;
      const how = { command: a.command, user: a.user, tty: a.tty };
      const out = isSingleThreadedBun() ? joinJail(j, how, seccomp) : (await import("../jail/stage/join.ts")).joinJailStaged(j, how, seccomp);
      if (out.message) log.error(out.message);
      return out.status;
    } finally {
      closeFd(j.pidfd);
    }
  } catch (err) {
    if (isClosedPipe(err)) throw err;
    reportError(err, verbose);
    return EXIT.JAILX;
  }
}
