/** socklab's public API: everything a user may import. */
export { SocklabError, isSocklabError, type SocklabErrorCode } from './errors.js';
export {
  parseAddress,
  formatAddress,
  formatHostPort,
  ANY_HOST,
  DEFAULT_LISTEN_HOST,
  type Endpoint,
  type Transport,
  type ParseAddressOptions,
} from './address.js';
export { listenTcp, TcpServer, DEFAULT_BACKLOG, type ListenTcpOptions } from './server/tcp-server.js';
export { connectTcp, TcpClient, type ConnectTcpOptions } from './client/tcp-client.js';
export {
  tlsServerIdentity,
  checkServerIdentity,
  type TlsClientOptions,
  type TlsServerOptions,
  type TlsIdentity,
} from './core/tls.js';
export {
  listenUdp,
  UdpServer,
  MAX_UDP_PAYLOAD,
  type ListenUdpOptions,
  type UdpServerStats,
  type UdpDropLimit,
} from './server/udp-server.js';
export { openUdp, UdpClient, type OpenUdpOptions, type Datagram } from './client/udp-client.js';
export { runClientSession, type ClientSessionOptions } from './client/session.js';
export type { SessionIo } from './client/io.js';
export {
  codecs,
  raw,
  lines,
  lengthPrefixed,
  DEFAULT_MAX_MESSAGE_BYTES,
  type Codec,
  type Decoder,
  type FramingName,
} from './core/framing.js';
export type {
  Behaviour,
  Connection,
  Message,
  Reply,
  CloseInfo,
  MessageResult,
} from './behaviours/behaviour.js';
export { print, messageJson, type PrintOptions, type PrintFormat } from './behaviours/print.js';
export { echo } from './behaviours/echo.js';
export { reply, parseTemplate, unescape, type Template } from './behaviours/reply.js';
export { chat } from './behaviours/chat.js';
export { welcome } from './behaviours/welcome.js';
export { exitWord } from './behaviours/exit-word.js';
export { save } from './behaviours/save.js';
export { hexdump } from './format/hexdump.js';
export {
  httpGet,
  httpGetStream,
  DEFAULT_HTTP_TIMEOUT_MS,
  DEFAULT_MAX_REDIRECTS,
  DEFAULT_MAX_BODY_BYTES,
  type HttpGetOptions,
  type HttpGetStreamOptions,
  type HttpResponse,
  type HttpResponseHead,
  type HttpStreamResult,
  type BodySink,
} from './http/get.js';
export { getHeader, getHeaderValues, type HttpHeader } from './http/headers.js';
export type { HttpMethod } from './http/request.js';
export type { ConnectionInfo } from './http/connection.js';
export {
  ResponseParser,
  DEFAULT_MAX_HEADER_BYTES,
  type ResponseParserOptions,
  type ResponseEvent,
  type ResponseHead,
  type BodyFraming,
} from './http/response-parser.js';
export {
  createRelay,
  Relay,
  DEFAULT_TCP_BUFFER_BYTES,
  DEFAULT_UDP_BUFFER_BYTES,
  DEFAULT_UDP_BUFFER_PACKETS,
  DEFAULT_MAX_FLOWS,
  DEFAULT_FLOW_IDLE_MS,
  DEFAULT_MAX_CONNECTIONS,
  type RelayOptions,
  type RelayEvents,
  type RelayStats,
  type RelayJson,
  type LinkInfo,
} from './relay/relay.js';
export {
  defineFault,
  type FaultSpec,
  type Fault,
  type FaultType,
  type ParamSpec,
  type FlagSpec,
} from './impair/fault.js';
export { FAULT_TYPES } from './impair/faults/index.js';
export type * from './impair/faults/index.js';
export { Pipeline, type PipelineOptions, type PipelineSink } from './impair/pipeline.js';
export {
  COUNTER_NAMES,
  type Stage,
  type StageContext,
  type Packet,
  type Counters,
  type Count,
  type CounterName,
  type Direction,
  type EndAction,
} from './impair/stage.js';
export { ManualClock, realClock, type Clock, type Clock as RelayClock } from './measure/clock.js';
export { createRandom, type Random } from './impair/random.js';
export { RelayRegistry, type RelayRegistryEvents } from './relay/registry.js';
export { serveApi, MAX_API_BODY_BYTES, type ServeApiOptions, type ApiServer } from './relay/api.js';
export { loadConfig, readConfig, type RelayConfig } from './relay/config.js';
export { runDemo, type RunDemoOptions } from './demo/run.js';
export type { DemoFacts } from './demo/facts.js';
export { textNarrator, silentNarrator, type Narrator } from './demo/narrator.js';
export { startBenchServer, type BenchServer, type BenchServerOptions } from './bench/server.js';
export { runThroughput, type ThroughputOptions, type ThroughputReport } from './bench/throughput-client.js';
export {
  runPingPong,
  SOCKPERF_HEADER_BYTES,
  type PingPongOptions,
  type PingPongReport,
  type PingPongInterval,
} from './bench/pingpong.js';
export {
  throughputTable,
  throughputJson,
  pingPongTable,
  pingPongJson,
  type PingPongTest,
} from './bench/report.js';
export type { TestSpec } from './bench/protocol.js';
export {
  compare,
  MAX_MESSAGE_BYTES as COMPARE_MAX_MESSAGE_BYTES,
  type CompareOptions,
  type CompareResult,
  type CompareLanes,
  type CompareProgress,
  type SweepPoint,
  type Via,
} from './compare/compare.js';
export { VERDICT, VERDICT_NAMES, type LaneResult, type LaneStatus } from './compare/analyze.js';
export type { Workload } from './compare/protocol.js';
export { renderReport } from './compare/report/render.js';
export { childAgent, spawnAgent, AGENT_MAIN } from './compare/child.js';
export { localAgent, type Agent } from './compare/agent.js';
export {
  createLink,
  readLinkFaults,
  chooseLinkPath,
  LINK_FAULT_TYPES,
  DEFAULT_LINK_QUEUE_PACKETS,
  type Link,
  type LinkOptions,
  type LinkPath,
  type LinkCounters,
  type LinkDirectionCounters,
} from './link/link.js';
export type { KernelCounters } from './link/kernel-counters.js';
export { describeLinkCounters } from './link/report.js';
