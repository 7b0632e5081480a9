// Runs `jailx inspect ...` in-process through the citty dispatcher (cmd/main.ts). Used by the live
// tests as a subprocess, so that they work before cmd/run.ts (and thus cmd/jailx.ts) exists.
import { main } from "../../cmd/main.ts";

await main(["inspect", ...process.argv.slice(2)]);
