// The one logger: everything human-facing goes to stderr; stdout is kept for data.
// consola/core (≈2 ms) rather than all of consola (≈17 ms), and created on the first message:
// most runs print nothing, and the run path's start-up counts.
import { writeSync } from "node:fs";
import type { ConsolaInstance, ConsolaReporter } from "consola/core";
import { UsageError } from "../sys/errors.ts";
import { isClosedPipe } from "./closed-pipe.ts";

/**
 * Straight to fd 2, synchronously. Not process.stderr: Bun's stream writes later and through a
 * descriptor of its own, which a process forked meanwhile inherits; `jailx run -d` forks its
 * background supervisor right after such a note (a profile chosen, the cwd warning), and that
 * copy kept the caller's stderr open for the jail's whole life (`x=$(jailx run -d … 2>&1)` hung).
 */
function writeErr(text: string): void {
  let b = Buffer.from(text);
  for (let again = 0; b.length > 0; ) {
    try {
      b = b.subarray(writeSync(2, b));
    } catch (err) {
      // A non-blocking stderr that is full: try a little longer, then drop the rest.
      if ((err as { code?: string }).code === "EAGAIN" && again++ < 1000) continue;
      // No one reads stderr any more: the message cannot be shown; the command goes on.
      if (isClosedPipe(err) || (err as { code?: string }).code === "EAGAIN") return;
      throw err;
    }
  }
}

const stderrReporter: ConsolaReporter = {
  log(obj) {
    const msg = obj.args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ");
    writeErr(`jailx: ${obj.type === "warn" ? "warning: " : ""}${msg}\n`);
  },
};

let level = 3;
let instance: ConsolaInstance | undefined;
function consola(): ConsolaInstance {
  // require: evaluated here, on the first message, not when this module loads
  return (instance ??= (require("consola/core") as typeof import("consola/core")).createConsola({ reporters: [stderrReporter], level }));
}

export const log = {
  info: (message: unknown, ...args: unknown[]) => consola().info(message, ...args),
  warn: (message: unknown, ...args: unknown[]) => consola().warn(message, ...args),
  error: (message: unknown, ...args: unknown[]) => consola().error(message, ...args),
  debug: (message: unknown, ...args: unknown[]) => consola().debug(message, ...args),
  get level(): number {
    return level;
  },
  set level(v: number) {
    level = v;
    if (instance) instance.level = v;
  },
};

export function setVerbose(on: boolean): void {
  log.level = on ? 5 : 3;
}

/** One line for the user; the stack only with --verbose (bad input never has one). */
export function reportError(err: unknown, verbose: boolean): void {
  log.error(err instanceof Error ? err.message : String(err));
  if (err instanceof UsageError && err.hint) log.info(`hint: ${err.hint}`);
  if (verbose && err instanceof Error && !(err instanceof UsageError) && err.stack) writeErr(err.stack + "\n");
}
