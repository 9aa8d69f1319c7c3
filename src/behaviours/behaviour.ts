/**
 * The contract between a server and what it does with the traffic.
 *
 * A server (core/tcp.ts, core/udp.ts) accepts, counts, limits, frames and closes; a behaviour only
 * reacts to what the server hands it. A behaviour never listens, never touches `process`, and
 * writes its output to streams it is given, so a test can capture them.
 *
 * A server runs its behaviours in order for each event. For messages, a behaviour that returns
 * `'stop'` ends the chain for that message (the exit word does this, so `exit` gets no reply).
 * A behaviour that returns a promise holds back the next message of that connection until it
 * settles: that is how output backpressure reaches the socket.
 */
import type { Transport } from '../address.js';

/** One TCP client as the server sees it. */
export interface Connection {
  /** 1, 2, 3… in order of acceptance, per server. */
  readonly id: number;
  /** `127.0.0.1:51234` or `[::1]:51234`. */
  readonly peer: string;
  readonly transport: 'tcp';
  /** What was agreed with a TLS client (a tls:// server): protocol, SNI name, ALPN protocol. */
  readonly tls?: { readonly protocol: string; readonly servername?: string; readonly alpnProtocol?: string };
  /** Write to this client; resolves once the bytes are handed to the kernel or buffered under the limit. */
  send(data: Buffer): Promise<void>;
  /** Send one message as the server frames its messages (with line framing: a line, newline added). */
  sendMessage(data: Buffer): Promise<void>;
  /** Close gracefully: pending writes go out, then FIN. */
  end(): void;
  /** Close now. */
  destroy(): void;
}

/** One message: a chunk, a line, a frame or a datagram, depending on the framing and transport. */
export interface Message {
  readonly data: Buffer;
  /** Who sent it: `127.0.0.1:51234`. */
  readonly peer: string;
  /** Its number on that connection (TCP) or from that sender (UDP), from 1. */
  readonly n: number;
  readonly transport: Transport;
  /** The TCP connection it came on; absent for UDP. */
  readonly connection?: Connection;
}

/**
 * Send `data` back to whoever sent the message (framed, and after `--delay`, by the server).
 * Returns a promise only when the reply has to wait (a delay, a full socket buffer); nothing
 * when it went straight out, so a busy connection is not paused and resumed for every message.
 */
export type Reply = (data: Buffer) => Promise<void> | void;

/** Why a connection ended, as reported to behaviours and listeners. */
export interface CloseInfo {
  readonly bytesReceived: number;
  readonly bytesSent: number;
  readonly messages: number;
  /** Set when the connection ended on an error (reset, oversize message, idle timeout…). */
  readonly error?: Error;
}

export type MessageResult = void | 'stop';

export interface Behaviour {
  /** The CLI word for it: `'echo'`. */
  readonly name: string;
  onConnection?(conn: Connection): Promise<void> | void;
  onMessage?(msg: Message, reply: Reply): Promise<MessageResult> | MessageResult;
  onClose?(conn: Connection, info: CloseInfo): void;
}
