#!/usr/bin/env node
// The `trellis` executable: runs the compiled CLI (built by `npm run build` / `npm test`).
import { main } from '../dist/src/main.js';

process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
});
