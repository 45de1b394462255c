/** The command that replays one seed of the Raft simulation (printed with every failure). */
export const replayCommand = (seed: number): string => `npm run sim:raft -- --seed ${seed}`;
