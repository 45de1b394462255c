export {
  RpcClient,
  type RpcClientOptions,
  type ClientTlsOptions,
  type ClientState,
} from './client.js';
export { RpcServer, type RpcServerOptions, type ServerTlsOptions } from './server.js';
export {
  Handlers,
  RpcConnection,
  type CallOptions,
  type ConnectionLimits,
  type ConnectionStats,
  type HandlerContext,
  type PeerInfo,
  type RequestHandler,
  type StreamHandler,
} from './connection.js';
export type { RpcStream } from './stream.js';
export { RpcError, RpcErrorCode, isRpcError, type RpcErrorMeta } from './errors.js';
export { FrameType, FrameError, decodeFrame, encodeFrame, type Frame } from './frame.js';
export { DEFAULTS as RPC_DEFAULTS, PROTOCOL_VERSIONS, RPC_PATH } from './constants.js';
export { silentLogger, type Logger } from './logger.js';
