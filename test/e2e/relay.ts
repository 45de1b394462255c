/**
 * A recording TCP relay, the e2e stand-in for the seed's `tcpdump` in the pod: it listens on
 * loopback, forwards every connection to a target port and keeps every byte seen in each
 * direction, per connection.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface RecordedConnection {
  /** Client → target (what the dialling sidecar sent). */
  readonly sent: Buffer[];
  /** Target → client (what the listening sidecar answered). */
  readonly received: Buffer[];
}

/** Bytes kept per direction and connection, beyond which recording stops (forwarding goes on). */
const MAX_RECORDED = 1 << 20;

export class RecordingRelay {
  readonly connections: RecordedConnection[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Listens on 127.0.0.1:port and forwards to 127.0.0.1:targetPort. */
  static async start(port: number, targetPort: number): Promise<RecordingRelay> {
    const server = createServer();
    const relay = new RecordingRelay(server);
    server.on('connection', (down) => relay.#relay(down, targetPort));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return relay;
  }

  /** Every byte of one direction of one connection. */
  static bytes(chunks: readonly Buffer[]): Buffer {
    return Buffer.concat(chunks);
  }

  /** Both directions of every connection, concatenated (for "never appears" checks). */
  all(): Buffer {
    return Buffer.concat(this.connections.flatMap((c) => [...c.sent, ...c.received]));
  }

  #relay(down: Socket, targetPort: number): void {
    const rec: RecordedConnection = { sent: [], received: [] };
    this.connections.push(rec);
    const up = connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [down, up]) {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
      s.on('error', () => {
        down.destroy();
        up.destroy();
      });
    }
    const record = (into: Buffer[], chunk: Buffer): void => {
      const size = into.reduce((n, b) => n + b.length, 0);
      if (size < MAX_RECORDED) into.push(Buffer.from(chunk));
    };
    down.on('data', (c: Buffer) => record(rec.sent, c));
    up.on('data', (c: Buffer) => record(rec.received, c));
    down.pipe(up);
    up.pipe(down);
  }

  /** Stops listening and destroys every relayed connection. */
  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
