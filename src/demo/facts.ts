/**
 * What each scene measured in this run. The narration is written from these, the closing summary
 * quotes them, and `socklab demo --json` prints them as one object (for tests and teachers).
 * Times are milliseconds rounded to 0.1; counts are exact.
 */

export interface PrintFacts {
  readonly tcp: {
    readonly sent: string;
    /** What the server's print behaviour wrote out. */
    readonly printed: string;
    /** Time from connect() to an established connection: the three-way handshake. */
    readonly connectMs: number;
    readonly serverConnections: number;
    readonly bytesReceived: number;
    /** The client had already closed its side when the server printed (and nothing was lost). */
    readonly printedAfterClientClosed: boolean;
  };
  readonly udp: {
    readonly sent: string;
    /** `null` if the datagram did not arrive (UDP does not promise it will). */
    readonly printed: string | null;
    /** Datagrams the server received (its only kind of event: it has no connections). */
    readonly datagrams: number;
    readonly from: string | null;
  };
}

export interface ReplyFacts {
  readonly tcp: { readonly request: string; readonly reply: string };
  readonly udp: {
    readonly request: string;
    /** `null` if no reply came back after every retry. */
    readonly reply: string | null;
    /** Requests the server received: more than 1 if a reply was lost and the client asked again. */
    readonly requestsSeen: number;
    /** The address the server answered: the one the datagram came from. */
    readonly answeredTo: string | null;
  };
}

export interface WelcomeClientFacts {
  readonly client: number;
  readonly greeting: string;
  readonly names: readonly string[];
  readonly replies: readonly string[];
  /** The server closed the connection after `exit`, without answering it. */
  readonly closedAfterExit: boolean;
}

export interface WelcomeFacts {
  readonly tcp: {
    readonly clients: readonly WelcomeClientFacts[];
    readonly delayMs: number;
    readonly elapsedMs: number;
    /** The least time one-client-at-a-time service would have needed: clients × names × delay. */
    readonly oneAtATimeMs: number;
    readonly concurrent: boolean;
  };
  readonly udp: {
    readonly names: readonly string[];
    /** One per name; `null` where no reply came back. */
    readonly replies: readonly (string | null)[];
    /** The addresses the server saw each datagram come from. */
    readonly senders: readonly string[];
  };
}

export interface BoundaryFacts {
  readonly tcp: {
    readonly writes: readonly string[];
    /** What each read on the server returned, in order. */
    readonly reads: readonly string[];
    readonly bytes: number;
  };
  readonly udp: {
    readonly sent: readonly string[];
    readonly received: readonly string[];
  };
}

export interface DeliveryFacts {
  readonly recordBytes: number;
  readonly udp: {
    readonly receiveBufferBytes: number;
    readonly sent: number;
    readonly sendErrors: number;
    readonly sendMs: number;
    /** Distinct datagrams that arrived. */
    readonly received: number;
    /** sent − received: never arrived. */
    readonly lost: number;
    readonly duplicates: number;
    readonly outOfOrder: number;
    /** The sequence numbers that arrived, as ranges: "0-55". */
    readonly receivedRanges: string;
    /** Rise of the kernel's UDP RcvbufErrors counter (whole machine; `null` where not readable). */
    readonly kernelBufferDrops: number | null;
  };
  readonly tcp: {
    readonly records: number;
    readonly bytesSent: number;
    readonly bytesReceived: number;
    /** Every record arrived once, in sequence. */
    readonly inOrder: boolean;
    readonly sha256Sent: string;
    readonly sha256Received: string;
    /** Times the sender had to wait for 'drain': TCP's flow control pushing back. */
    readonly drainWaits: number;
    readonly transferMs: number;
  };
}

export interface ClosedPortFacts {
  readonly port: number;
  readonly tcp: {
    readonly refused: boolean;
    /** The system error code, e.g. ECONNREFUSED; `null` if the connect succeeded. */
    readonly code: string | null;
    readonly message: string;
    readonly ms: number;
  };
  readonly udp: {
    /** `null` when the send reported no error (the usual case). */
    readonly sendError: string | null;
    readonly sendMs: number;
    /** What the connected socket heard next. */
    readonly afterwards: 'port-unreachable' | 'nothing' | 'a-reply' | 'other-error';
    readonly message: string;
    readonly waitedMs: number;
  };
}

export interface PromiseFacts {
  readonly boundaries: BoundaryFacts;
  readonly delivery: DeliveryFacts;
  readonly closedPort: ClosedPortFacts;
}

export interface DemoFacts {
  readonly host: string;
  readonly print: PrintFacts;
  readonly reply: ReplyFacts;
  readonly welcome: WelcomeFacts;
  readonly promises: PromiseFacts;
  readonly durationMs: number;
}
