// The one logger: everything human-facing goes to stderr; stdout is kept for data.
// consola/core (≈2 ms) rather than all of consola (≈17 ms): the run path's start-up counts.
import { createConsola, type ConsolaReporter } from "consola/core";

const stderrReporter: ConsolaReporter = {
  log(obj) {
    const msg = obj.args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ");
    const prefix = obj.type === "warn" ? "jailx: warning: " : obj.type === "error" || obj.type === "fatal" ? "jailx: " : "jailx: ";
    process.stderr.write(prefix + msg + "\n");
  },
};

export const log = createConsola({ reporters: [stderrReporter], level: 3 });

export function setVerbose(on: boolean): void {
  log.level = on ? 5 : 3;
}
