#!/usr/bin/env node
// `npm start`: sets the checkout up (scripts/setup.mjs ran before this) and runs the dev
// agent — `trellis agent -dev`: one in-memory server with the HTTP API on 127.0.0.1:8500.
// Extra arguments pass through: `npm start -- -http-port=18500 -node=me`.
import { main } from '../cmd/trellis/dist/src/main.js';

process.exitCode = await main(['agent', '-dev', ...process.argv.slice(2)], {
  stdout: process.stdout,
  stderr: process.stderr,
});
