// Every command but `run` goes through citty. Subcommands are loaded lazily; each lives in its
// own file under cmd/ and exports a citty command as default. Errors are printed once, here.
import { defineCommand, runCommand, type CommandDef } from "citty";
import { EXIT, UsageError } from "../sys/errors.ts";
import { didYouMean } from "../jail/cli-text.ts";
import { checkOptions, findTarget, helpWidth, renderHelp, resolve } from "./help.ts";
import { reportError, setVerbose } from "./log.ts";
import { isClosedPipe } from "./closed-pipe.ts";
import { runHelp } from "../jail/options.ts";
import pkg from "../package.json" with { type: "json" };

export const VERSION: string = pkg.version;

const root = defineCommand({
  meta: {
    name: "jailx",
    version: VERSION,
    description: "Put containment on any Linux program; audit how contained any process is.",
  },
  subCommands: {
    run: defineCommand({ meta: { name: "run", description: "run a program in a jail (see 'jailx run --help')" } }),
    learn: defineCommand({ meta: { name: "learn", description: "run a program, record what it does, write the profile it needs (see 'jailx learn --help')" } }),
    ps: () => import("./ps.ts").then((m) => m.default as CommandDef),
    exec: defineCommand({ meta: { name: "exec", description: "run a command inside a running named jail (see 'jailx exec --help')" } }),
    stop: () => import("./stop.ts").then((m) => m.default as CommandDef),
    kill: () => import("./kill.ts").then((m) => m.default as CommandDef),
    logs: () => import("./logs.ts").then((m) => m.default as CommandDef),
    unit: defineCommand({ meta: { name: "unit", description: "print a systemd unit for a named jail (see 'jailx unit --help')" } }),
    inspect: () => import("./inspect.ts").then((m) => m.default as CommandDef),
    seccomp: () => import("./seccomp.ts").then((m) => m.default as CommandDef),
    profile: () => import("./profile.ts").then((m) => m.default as CommandDef),
  },
});

/** Runs a non-`run` command; sets process.exitCode, never calls process.exit itself. */
export async function main(argv: string[]): Promise<void> {
  const verbose = argv.includes("--verbose");
  setVerbose(verbose);
  const width = helpWidth();
  try {
    if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
      process.stdout.write(await renderHelp(root, [], width));
      return;
    }
    if (argv[0] === "--version" || argv[0] === "-v") {
      process.stdout.write(`jailx ${VERSION}\n`);
      return;
    }
    if (argv[0] === "run") {
      process.stdout.write(runHelp(width));
      return;
    }
    if (argv[0]!.startsWith("-"))
      throw new UsageError(`unknown option '${argv[0]}'${didYouMean(argv[0]!.replace(/^--?/, ""), ["help", "version"])}: give a command: ${Object.keys(root.subCommands as object).join(", ")} (see 'jailx --help')`);
    const target = await findTarget(root, [], argv);
    // Help of the deepest command named (e.g. `jailx seccomp show --help`).
    if (target.args.some((a) => a === "--help" || a === "-h")) {
      process.stdout.write(await renderHelp(target.cmd, target.path, width));
      return;
    }
    if (target.cmd.subCommands)
      throw new UsageError(`'jailx ${target.path.join(" ")}' needs a command: ${Object.keys(await resolve(target.cmd.subCommands)).join(", ")} (see 'jailx ${target.path.join(" ")} --help')`);
    await checkOptions(target);
    const sub = await resolve((root.subCommands as Record<string, () => Promise<CommandDef>>)[argv[0]!]!);
    await runCommand(sub, { rawArgs: argv.slice(1) });
  } catch (err) {
    if (isClosedPipe(err)) throw err;
    reportError(err, verbose);
    process.exitCode = EXIT.JAILX;
  }
}
