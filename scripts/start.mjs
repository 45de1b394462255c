#!/usr/bin/env node
// `npm start`: sets the checkout up (scripts/setup.mjs ran before this) and runs the dev
// agent. The agent lands with the server-agent issue; until then this says so plainly
// and exits non-zero rather than pretending to run.
console.error(
  [
    'trellis: the dev agent (`trellis agent -dev`) is not built yet.',
    'What works today:',
    '  npm test                 build and run every test',
    '  npx trellis version      the CLI (version, keygen)',
    '  npm run sim:gossip       the gossip simulation (seeded, replayable)',
    '  npm run bench:raft       3 Raft members on real disk: throughput, latency, failover',
    '  npm run bench:checker    linearizability checker benchmark (20,000 ops, 64 clients)',
    'See README.md for the status of each part.',
  ].join('\n'),
);
process.exit(1);
