// `jailx stop NAME [--time N]`: SIGTERM to the program, SIGKILL to the jail after N seconds
// (default 10), then wait until its processes, cgroup and state entry are gone.
import { defineCommand } from "citty";
import { UsageError } from "../sys/errors.ts";
import { findLive } from "../jail/state.ts";
import { stopJail } from "../jail/control.ts";

export default defineCommand({
  meta: { name: "stop", description: "stop a named jail: TERM, then KILL after --time seconds" },
  args: {
    name: { type: "positional", required: true, description: "the jail's name" },
    time: { type: "string", alias: "t", description: "seconds to wait after SIGTERM before SIGKILL (default 10)" },
    verbose: { type: "boolean", description: "show stack traces" },
  },
  async run({ args }) {
    const t = args.time ?? "10";
    if (!/^\d+(\.\d+)?$/.test(t)) throw new UsageError(`--time ${JSON.stringify(t)}: give seconds, e.g. --time 5 (0: KILL at once)`);
    await stopJail(findLive(args.name), Math.round(Number(t) * 1000));
  },
});
