#!/usr/bin/env bun
// Build the single-file jailx binaries: dist/jailx (this machine, linux-x64, Bun's "modern"
// target: x86-64-v3 with AVX2), dist/jailx-linux-x64-baseline (linux-x64 for CPUs without AVX2: Bun's
// baseline target, x86-64-v2/Nehalem) and dist/jailx-linux-arm64 (cross-compiled).
// Usage: bun scripts/build.ts [--only-native]
//
// --splitting: code that only other commands use (inspect, seccomp, citty) lives in chunks that
// are loaded on import: `jailx run -- /bin/true` was ~1 ms slower built without it (one
// hyperfine run, docs/BENCHMARKS.md, fifth round).
// --no-compile-autoload-dotenv / --no-compile-autoload-bunfig: a compiled binary would otherwise
// read .env and bunfig.toml (whose `preload` runs code) from the current directory — never
// acceptable for a tool run as root.
// The embedded stage and helper (jail/stage/*.c) are compiled first (scripts/build-stage.ts). The
// arm64 binary is refused without the arm64 blobs (the cross compiler is missing); a native build
// without gcc goes on without its stage (build-stage says so), as `npm run demo` needs no compiler.
import { mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { buildStageBlobs, compilerPackage, type Arch } from "./build-stage.ts";

const FLAGS = [
  "build", "--compile", "--splitting", "--minify", "--sourcemap", "--bytecode", "--format=esm",
  "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig", "--compile-jit-policy=1000",
];

const targets: { target?: string; out: string; arch: Arch }[] = [{ out: "dist/jailx", arch: process.arch as Arch }];
if (!process.argv.includes("--only-native")) {
  // x64 without AVX2 (Bun's baseline build: SSE4.2 at most); dist/jailx needs AVX2 (Haswell, 2013+).
  targets.push({ target: "bun-linux-x64-baseline", out: "dist/jailx-linux-x64-baseline", arch: "x64" });
  targets.push({ target: "bun-linux-arm64", out: "dist/jailx-linux-arm64", arch: "arm64" });
}

try {
  buildStageBlobs();
} catch (e) {
  console.error(`build-stage: ${(e as Error).message}`);
  process.exit(1);
}
// Imported after building it: the generated module is what the binaries embed.
const { BLOBS } = await import("../jail/stage/blobs.gen.ts");
for (const t of targets) {
  if (t.arch !== "arm64" || BLOBS.arm64) continue;
  console.error(`cannot build ${t.out}: no ${t.arch} stage was compiled (install the Debian package ${compilerPackage(t.arch)}: scripts/install-deps.sh)`);
  process.exit(1);
}

mkdirSync("dist", { recursive: true });
for (const t of targets) {
  // Build beside the target and rename over it: a binary being executed (ETXTBSY) or spawned
  // at this moment keeps its old inode, and nobody ever sees a half-written file.
  const tmp = `${t.out}.tmp-${process.pid}`;
  const args = [...FLAGS, ...(t.target ? [`--target=${t.target}`] : []), "cmd/jailx.ts", "--outfile", tmp];
  const started = performance.now();
  const r = Bun.spawnSync([process.execPath, ...args], { stdout: "inherit", stderr: "inherit" });
  if (r.exitCode !== 0) {
    rmSync(tmp, { force: true });
    console.error(`build failed for ${t.out} (exit ${r.exitCode})`);
    process.exit(1);
  }
  renameSync(tmp, t.out);
  // The source maps are embedded in the executable; the loose copies of each chunk's map are not needed.
  for (const f of readdirSync("dist")) if (f.endsWith(".map")) rmSync(`dist/${f}`);
  console.error(`built ${t.out} in ${Math.round(performance.now() - started)} ms`);
}
