// `bun test` preload (bunfig.toml [test].preload): the integration tests in tests/run run the
// compiled binary, so make sure it is built and current before any test file starts.
import { ensureBuilt } from "./helpers/build.ts";

ensureBuilt();
