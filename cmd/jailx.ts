// Entry point of the jailx binary.
//
// The first import re-executes `jailx run` single-threaded before any other module is evaluated
// (sys/reexec.ts). `run` splits its own argv at `--` (citty's runMain would show help for
// `jailx run -- df -h`); the other commands go through citty and are loaded lazily.
import "../sys/reexec.ts";
import { runCommand } from "./run.ts";

const argv = process.argv.slice(2);

if (argv[0] === "run") {
  process.exitCode = await runCommand(argv.slice(1));
} else {
  // citty decides on colours when it is loaded: none unless stdout is a terminal.
  if (!process.stdout.isTTY) process.env.NO_COLOR ??= "1";
  const { main } = await import("./main.ts");
  await main(argv);
}
