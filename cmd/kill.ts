// `jailx kill NAME [SIGNAL]`: send a signal (default KILL) to a named jail's program; KILL ends
// the whole jail.
import { defineCommand } from "citty";
import { closeFd } from "../sys/proc.ts";
import { findLive } from "../jail/state.ts";
import { parseSignal, signalJail } from "../jail/control.ts";

export default defineCommand({
  meta: { name: "kill", description: "send a signal to a named jail's program (default KILL: ends the jail)" },
  args: {
    name: { type: "positional", required: true, description: "the jail's name" },
    signal: { type: "positional", required: false, description: "signal name or number (default KILL)" },
    verbose: { type: "boolean", description: "show stack traces" },
  },
  run({ args }) {
    const sig = parseSignal(args.signal ?? "KILL");
    const j = findLive(args.name);
    try {
      signalJail(j, sig);
    } finally {
      closeFd(j.pidfd);
    }
  },
});
