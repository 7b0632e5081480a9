// The one logger: everything human-facing goes to stderr; stdout is kept for data.
// consola/core (≈2 ms) rather than all of consola (≈17 ms): the run path's start-up counts.
import { createConsola, type ConsolaReporter } from "consola/core";
import { UsageError } from "../sys/errors.ts";

const stderrReporter: ConsolaReporter = {
  log(obj) {
    const msg = obj.args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ");
    process.stderr.write(`jailx: ${obj.type === "warn" ? "warning: " : ""}${msg}\n`);
  },
};

export const log = createConsola({ reporters: [stderrReporter], level: 3 });

export function setVerbose(on: boolean): void {
  log.level = on ? 5 : 3;
}

/** One line for the user; the stack only with --verbose (bad input never has one). */
export function reportError(err: unknown, verbose: boolean): void {
  log.error(err instanceof Error ? err.message : String(err));
  if (err instanceof UsageError && err.hint) log.info(`hint: ${err.hint}`);
  if (verbose && err instanceof Error && !(err instanceof UsageError) && err.stack) process.stderr.write(err.stack + "\n");
}
