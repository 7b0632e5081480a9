// Entry point of the jailx binary.
//
// The first import re-executes the commands that need a single-threaded Bun (`learn`,
// `inspect --all`) before any other module is evaluated (sys/reexec.ts); `run` and `exec` are not
// (their children run no JavaScript: jail/stage/). Everything else is imported dynamically: the
// binary is built with code splitting, so each command loads only its own chunks. (In the
// compiled binary a dynamic import starts no thread; under `bun cmd/jailx.ts` the transpiler's
// pool does, and the launcher refuses to clone.) `run` splits its own argv at `--` (citty's
// runMain would show help for `jailx run -- df -h`); the other commands go through citty.
import "../sys/reexec.ts";
import { EXIT_CLOSED_PIPE, endQuietlyOnClosedPipe, isClosedPipe } from "./closed-pipe.ts";

const argv = process.argv.slice(2);
// `inspect` writes to fd 1 itself (building process.stdout costs 15–25 ms) and ends quietly on
// EPIPE there; `run` and `exec` listen only when they print (--help, --dry-run), not on their
// hot path.
if (argv[0] !== "inspect" && argv[0] !== "run" && argv[0] !== "learn" && argv[0] !== "exec") endQuietlyOnClosedPipe();

try {
  if (argv[0] === "run") {
    const { runCommand } = await import("./run.ts");
    process.exitCode = await runCommand(argv.slice(1));
  } else if (argv[0] === "learn") {
    const { learnCommand } = await import("./learn.ts");
    process.exitCode = await learnCommand(argv.slice(1));
  } else if (argv[0] === "exec" || argv[0] === "unit") {
    // Like run: their own argv split at `--`.
    const m = argv[0] === "exec" ? await import("./exec.ts").then((x) => x.execCommand) : await import("./unit.ts").then((x) => x.unitCommand);
    process.exitCode = await m(argv.slice(1));
  } else if (argv[0] === "__stage-selftest") {
    // Hidden, for tests (tests/run/foreign-cpu.test.ts): the embedded stage on this CPU.
    const { stageSelftest } = await import("./stage-selftest.ts");
    process.exitCode = stageSelftest(argv.slice(1));
  } else {
    // citty decides on colours when it is loaded: none unless stdout is a terminal. isatty, not
    // process.stdout.isTTY: building the stdout stream costs 15–25 ms (inspect --all never needs it).
    // node:tty is loaded here only: importing it costs ~1.5 ms of every start (it loads Bun's
    // net and stream modules), which `run` never needs.
    const { isatty } = await import("node:tty");
    if (!isatty(1)) process.env.NO_COLOR ??= "1";
    const { main } = await import("./main.ts");
    await main(argv);
  }
} catch (err) {
  if (!isClosedPipe(err)) throw err;
  process.exitCode = EXIT_CLOSED_PIPE;
}
