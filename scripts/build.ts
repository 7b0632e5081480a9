#!/usr/bin/env bun
// Build the single-file jailx binaries: dist/jailx (this machine, linux-x64) and
// dist/jailx-linux-arm64 (cross-compiled). Usage: bun scripts/build.ts [--only-native]
//
// --no-compile-autoload-dotenv / --no-compile-autoload-bunfig: a compiled binary would otherwise
// read .env and bunfig.toml (whose `preload` runs code) from the current directory — never
// acceptable for a tool run as root.
import { mkdirSync } from "node:fs";

const FLAGS = [
  "build", "--compile", "--minify", "--sourcemap", "--bytecode", "--format=esm",
  "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig",
];

const targets: { target?: string; out: string }[] = [{ out: "dist/jailx" }];
if (!process.argv.includes("--only-native")) targets.push({ target: "bun-linux-arm64", out: "dist/jailx-linux-arm64" });

mkdirSync("dist", { recursive: true });
for (const t of targets) {
  const args = [...FLAGS, ...(t.target ? [`--target=${t.target}`] : []), "cmd/jailx.ts", "--outfile", t.out];
  const started = performance.now();
  const r = Bun.spawnSync([process.execPath, ...args], { stdout: "inherit", stderr: "inherit" });
  if (r.exitCode !== 0) {
    console.error(`build failed for ${t.out} (exit ${r.exitCode})`);
    process.exit(1);
  }
  console.error(`built ${t.out} in ${Math.round(performance.now() - started)} ms`);
}
