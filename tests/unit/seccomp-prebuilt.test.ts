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
