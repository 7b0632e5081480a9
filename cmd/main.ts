// Every command but `run` goes through citty. Subcommands are loaded lazily; each lives in its
// own file under cmd/ and exports a citty command as default. Errors are printed once, here.
import { defineCommand, runCommand, showUsage, type CommandDef } from "citty";
import { EXIT } from "../sys/errors.ts";
import { log, reportError, setVerbose } from "./log.ts";
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
    exec: defineCommand({ meta: { name: "exec", description: "run a command inside a running named jail (see 'jailx exec --help')" } }),
    unit: defineCommand({ meta: { name: "unit", description: "print a systemd unit for a named jail (see 'jailx unit --help')" } }),
    inspect: () => import("./inspect.ts").then((m) => m.default as CommandDef),
    seccomp: () => import("./seccomp.ts").then((m) => m.default as CommandDef),
    ps: () => import("./ps.ts").then((m) => m.default as CommandDef),
    stop: () => import("./stop.ts").then((m) => m.default as CommandDef),
    kill: () => import("./kill.ts").then((m) => m.default as CommandDef),
    logs: () => import("./logs.ts").then((m) => m.default as CommandDef),
  },
});

/** Runs a non-`run` command; sets process.exitCode, never calls process.exit itself. */
export async function main(argv: string[]): Promise<void> {
  const verbose = argv.includes("--verbose");
  setVerbose(verbose);
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    await showUsage(root);
    process.stdout.write("\nRun 'jailx COMMAND --help' for a command's options.\n");
    return;
  }
  if (argv[0] === "--version" || argv[0] === "-v") {
    process.stdout.write(`jailx ${VERSION}\n`);
    return;
  }
  if (argv[0] === "run") {
    process.stdout.write(runHelp());
    return;
  }
  const subs = root.subCommands as Record<string, () => Promise<CommandDef>>;
  const load = subs[argv[0]!];
  if (!load || argv[0]!.startsWith("-")) {
    log.error(`unknown command '${argv[0]}': use run, ps, exec, stop, kill, logs, unit, inspect or seccomp (see 'jailx --help')`);
    process.exitCode = EXIT.JAILX;
    return;
  }
  const sub = await load();
  try {
    if (argv.slice(1).some((a) => a === "--help" || a === "-h")) {
      // Show the help of the deepest subcommand named (e.g. `jailx seccomp show --help`).
      let [cmd, parent]: [CommandDef, CommandDef] = [sub, root];
      for (const word of argv.slice(1)) {
        const subs = (await resolve(cmd.subCommands)) as Record<string, CommandDef | (() => Promise<CommandDef>)> | undefined;
        const next = subs?.[word];
        if (!next) break;
        [cmd, parent] = [await resolve(next), cmd];
      }
      await showUsage(cmd, parent);
      return;
    }
    await runCommand(sub, { rawArgs: argv.slice(1) });
  } catch (err) {
    reportError(err, verbose);
    process.exitCode = EXIT.JAILX;
  }
}

async function resolve<T>(v: T | (() => T | Promise<T>) | Promise<T>): Promise<T> {
  return typeof v === "function" ? await (v as () => T | Promise<T>)() : await v;
}
