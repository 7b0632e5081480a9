// The default filter compiled into the binary must be exactly what the default plan compiles to,
// or every default run would silently fall back to compiling at start-up (or worse, differ).
import { seccompPlanFromOptions } from "../../sys/seccomp/policy.ts";
import { expect, test } from "bun:test";
import { prebuiltDefaultFilter } from "../../jail/seccomp-prebuilt.ts";
import { buildPlan } from "../../jail/plan.ts";
import { parseRunArgs } from "../../jail/options.ts";
import { compileSeccompPlan } from "../../sys/seccomp/compile.ts";
import { fakeHost } from "./fake-host.ts";

test("the prebuilt default filter matches the default plan, for both machines", () => {
  const plan = buildPlan(parseRunArgs(["--", "/bin/true"]), fakeHost(), seccompPlanFromOptions);
  const prebuilt = prebuiltDefaultFilter();
  expect(prebuilt.key).toBe(JSON.stringify(plan.seccomp));
  expect(prebuilt.programs.x86_64).toBe(compileSeccompPlan(plan.seccomp!, "x86_64").toString("base64"));
  expect(prebuilt.programs.aarch64).toBe(compileSeccompPlan(plan.seccomp!, "aarch64").toString("base64"));
});

test("a non-default plan does not match the prebuilt key", () => {
  const plan = buildPlan(parseRunArgs(["--seccomp-deny", "getpid", "--", "/bin/true"]), fakeHost(), seccompPlanFromOptions);
  expect(JSON.stringify(plan.seccomp)).not.toBe(prebuiltDefaultFilter().key);
});

test("a default run takes its plan from the binary, and it is the plan the policy module builds", async () => {
  const { seccompPlanBuilder, usesDefaultPolicy } = await import("../../jail/seccomp.ts");
  const fast = buildPlan(parseRunArgs(["--", "/bin/true"]), fakeHost(), await seccompPlanBuilder({}));
  const full = buildPlan(parseRunArgs(["--", "/bin/true"]), fakeHost(), seccompPlanFromOptions);
  expect(fast.seccomp).toEqual(full.seccomp);
  expect(usesDefaultPolicy({ seccomp: "default" })).toBe(true);
  for (const o of [{ seccomp: "none" }, { "seccomp-allow": ["ptrace"] }, { "seccomp-log": true }, { "cap-add": ["SYS_ADMIN"] }, { "cap-drop": ["ALL"] }, { "allow-reuseport": true }])
    expect(usesDefaultPolicy(o)).toBe(false);
});

test("--seccomp none builds no plan without loading the policy module", async () => {
  const { seccompPlanBuilder } = await import("../../jail/seccomp.ts");
  expect((await seccompPlanBuilder({ seccomp: "none" }))({ seccomp: "none" }, [])).toBeNull();
  expect(seccompPlanFromOptions({ seccomp: "none" }, [])).toBeNull();
});

test("each built-in profile's policy is prebuilt too: the same plan and filter as the policy module's, taken without loading it", async () => {
  const { seccompPlanBuilder, seccompProgram } = await import("../../jail/seccomp.ts");
  const { applyProfile } = await import("../../jail/profile-apply.ts");
  const { BUILTIN_PROFILES } = await import("../../jail/profiles/index.ts");
  const host = { ...fakeHost(), cwd: "/" };
  const machine = process.arch === "arm64" ? "aarch64" : "x86_64";
  const prebuilt = prebuiltDefaultFilter().profiles;
  expect(prebuilt.map((p) => p.profile).sort()).toEqual(Object.keys(BUILTIN_PROFILES).sort());
  for (const name of Object.keys(BUILTIN_PROFILES)) {
    const applied = applyProfile(parseRunArgs(["--", "/bin/true"]), name, host).run;
    // the profile's user (redis, …) is no user of the fake host's; the policy does not depend on it
    const run = { ...applied, options: { ...applied.options, user: undefined } };
    const builder = await seccompPlanBuilder(run.options);
    expect(builder).not.toBe(seccompPlanFromOptions); // prebuilt: the policy module is not asked
    const fast = buildPlan(run, fakeHost(), builder);
    const full = buildPlan(run, fakeHost(), seccompPlanFromOptions);
    expect(JSON.stringify(fast.seccomp)).toBe(JSON.stringify(full.seccomp));
    expect((await seccompProgram(fast.seccomp!)).toString("base64")).toBe(compileSeccompPlan(full.seccomp!, machine).toString("base64"));
    // a flag that changes the policy on top of the profile: built at run time, as before
    const more = applyProfile(parseRunArgs(["--seccomp-allow", "ptrace", "--", "/bin/true"]), name, host).run;
    expect(await seccompPlanBuilder(more.options)).toBe(seccompPlanFromOptions);
  }
});
