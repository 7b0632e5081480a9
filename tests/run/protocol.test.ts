// The supervisor ↔ jail channel on the real kernel: a jail that fails before reading the
// supervisor's last message ("placed") and exits leaves ECONNRESET pending on the supervisor's
// socket, reported before the error message the jail sent. That message must still arrive:
// without it a failed setup ended with status 125 and no line at all (seen under load in CI).
import { expect, test } from "bun:test";
import { asFromChild, channel, receive, send } from "../../jail/protocol.ts";
import { c } from "../../sys/ffi.ts";

test("a message sent by a peer that closed with ours unread still arrives, then EOF", () => {
  const [sup, jail] = channel();
  send(jail, { t: "error", step: "set up the namespaces", message: "openat2 /link: ENOENT", exit: 125 });
  send(sup, { t: "placed" }); // never read by the jail
  c.close(jail);
  expect(asFromChild(receive(sup))).toEqual({ t: "error", step: "set up the namespaces", message: "openat2 /link: ENOENT", exit: 125 });
  expect(receive(sup)).toBeNull();
  c.close(sup);
});

test("control: with ours read before the close, the message and EOF come the same way", () => {
  const [sup, jail] = channel();
  send(sup, { t: "go" });
  expect(receive(jail)).toEqual({ t: "go" });
  send(jail, { t: "exit", code: 3 });
  c.close(jail);
  expect(asFromChild(receive(sup))).toEqual({ t: "exit", code: 3 });
  expect(receive(sup)).toBeNull();
  c.close(sup);
});
