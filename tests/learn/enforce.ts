// Enforcing a learned profile: `jailx run --profile FILE` (the profiles loader), with unlisted
// syscalls killing instead of failing with EPERM, so that a syscall the recording missed cannot
// go unnoticed in a test.

export interface ProfileData {
  syscalls: string[];
  read: string[];
  write: string[];
  exec: string[];
  network: string;
  capabilities: string[];
  "ro-bind"?: string[];
  bind?: string[];
}

export function parseProfileText(text: string): ProfileData {
  return Bun.TOML.parse(text) as unknown as ProfileData;
}

/** Run flags that enforce the profile in `file`. */
export function enforce(file: string): string[] {
  return ["--profile", file, "--seccomp-default-action", "kill"];
}
