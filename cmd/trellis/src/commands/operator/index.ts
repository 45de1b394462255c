/** `trellis operator` and `trellis operator raft`. */
import { nestedCommand } from '../shared/nested.js';
import { listPeersCommand } from './list-peers.js';
import { removePeerCommand } from './remove-peer.js';
import { transferLeaderCommand } from './transfer-leader.js';

export const operatorRaftCommand = nestedCommand({
  name: 'raft',
  synopsis: 'Provides cluster-level tools for Trellis operators',
  text: `Usage: trellis operator raft <subcommand> [options]

  The Raft operator command is used to interact with the Raft subsystem. The
  command can be used to verify Raft peers or in rare cases to recover quorum by
  removing invalid peers.`,
  subcommands: [listPeersCommand, removePeerCommand, transferLeaderCommand],
});

export const operatorCommand = nestedCommand({
  name: 'operator',
  synopsis: 'Provides cluster-level tools for Trellis operators',
  text: `Usage: trellis operator <subcommand> [options]

  Provides cluster-level tools for operators, such as interacting with the Raft
  subsystem. NOTE: Use this command with extreme caution, as improper use could
  lead to a cluster outage and even loss of data.

  Run trellis operator <subcommand> with no arguments for help on that
  subcommand.`,
  subcommands: [operatorRaftCommand],
});
