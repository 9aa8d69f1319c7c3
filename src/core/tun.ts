/**
 * TUN devices (Linux): a network interface whose IP packets this process reads and writes. The
 * only way into one is `ioctl(TUNSETIFF)` on /dev/net/tun, which Node cannot do: the native addon
 * `native/tun.c` (built with the UDP one by `npm install`) does it, and can create the device in
 * another process's network namespace (setns there and back). `socklab link` puts one on each side
 * of its emulated link (src/link/).
 *
 * The device is not persistent: it disappears when `close()` closes its descriptor, or when this
 * process ends, however it ends.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SocklabError } from '../errors.js';

interface NativeTun {
  open(
    name: string,
    netnsPath: string | null,
    onBatch: (count: number, bytes: number) => void,
    onError: (code: string) => void,
    vnet: 0 | 1 | 2,
  ): [unknown, string];
  start(handle: unknown): void;
  stop(handle: unknown): void;
  write(handle: unknown, data: Buffer): 0 | string;
  dropped(handle: unknown): number;
  close(handle: unknown): void;
  arena(): Uint8Array;
  meta(): Int32Array;
  timerOpen(onFire: () => void): unknown;
  timerArm(handle: unknown, monotonicNs: number): void;
  timerStop(handle: unknown): void;
  timerClose(handle: unknown): void;
  setRealtime(priority: number): 0 | string;
}

const ADDON = join('native', 'build', 'Release', 'socklab_tun.node');

let loadError: string | undefined;

function loadNative(): NativeTun | undefined {
  if (process.platform !== 'linux') {
    loadError = `TUN devices and network namespaces are Linux-only, this is ${process.platform}`;
    return undefined;
  }
  // dist/core/ in a package, build/src/core/ in this repo's tests: look a few folders up.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    const file = join(dir, ADDON);
    if (existsSync(file)) {
      try {
        return createRequire(import.meta.url)(file) as NativeTun;
      } catch (err) {
        loadError = `the native addon ${ADDON} does not load (${err instanceof Error ? err.message.split('\n')[0] : String(err)}): run 'npm rebuild socklab'`;
        return undefined;
      }
    }
  }
  loadError = `the native addon (native/tun.c) is not built: run 'npm install' on a machine with a C compiler`;
  return undefined;
}

let native: NativeTun | undefined | null = null;

/** The addon (native/tun.c), or undefined where it is not built: core/hrtimer.ts uses its timer too. */
export function addon(): NativeTun | undefined {
  if (native === null) native = loadNative();
  return native;
}

const TUN_PATH = '/dev/net/tun';

/**
 * Why this process cannot open TUN devices, in one line, or undefined if it can: no addon, no
 * /dev/net/tun, or no permission (it is root's, mode 0600, on most systems).
 */
export function tunProblem(): string | undefined {
  if (addon() === undefined) return loadError;
  if (!existsSync(TUN_PATH)) {
    return `${TUN_PATH} does not exist: load the tun module (modprobe tun) or, in a container, pass the device (docker run --device /dev/net/tun --cap-add NET_ADMIN)`;
  }
  try {
    accessSync(TUN_PATH, constants.R_OK | constants.W_OK);
  } catch {
    return `cannot open ${TUN_PATH} (permission denied): run as root, or give node CAP_NET_ADMIN and access to the device (an unprivileged user namespace cannot open it while it is root's with mode 0600)`;
  }
  if (process.getuid?.() !== 0) {
    return `creating a TUN device and a network namespace needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN); this process runs as uid ${process.getuid?.()}`;
  }
  return undefined;
}

export interface TunOptions {
  /** The interface name (at most 15 characters); `%d` lets the kernel number it. */
  readonly name: string;
  /** Create it in this network namespace (`/proc/PID/ns/net`) instead of this process's. */
  readonly netnsPath?: string;
  /** Packets read, in order: each a Buffer of its own (views on one copy of the batch). */
  readonly onPackets: (packets: readonly Buffer[]) => void;
  /** A read error (the device went away). */
  readonly onError?: (err: SocklabError) => void;
  /**
   * Offloads (IFF_VNET_HDR, TUNSETOFFLOAD: checksum and TSO): every packet read and written starts
   * with a virtio_net_hdr of VNET_HEADER_BYTES, and a TCP packet may be a segment of up to 64 KiB
   * that the kernel cuts up (or never needs to) on the other side.
   */
  readonly offload?: boolean;
  /**
   * Without `offload`: packets read are MTU-sized, with their checksums, but every packet read and
   * written still starts with a virtio_net_hdr, so that a write may carry several TCP segments as
   * one (GSO), which the kernel takes whole, as a NIC's GRO would have made it.
   */
  readonly vnetHeader?: boolean;
}

/** The virtio_net_hdr in front of each packet of a device opened with `offload`. */
export const VNET_HEADER_BYTES = 10;

export interface TunDevice {
  /** The interface's name as the kernel made it. */
  readonly name: string;
  /** Write one IP packet; false if the device's queue was full and it was dropped. */
  write(packet: Buffer): boolean;
  /** Writes refused because the device's queue was full. */
  readonly writeDropped: number;
  /** Stop and start reading (backpressure). */
  pause(): void;
  resume(): void;
  /** Close the descriptor: the interface disappears. */
  close(): void;
}

/** Create a TUN device (IFF_TUN, no packet information header) and start reading it. */
export function openTun(options: TunOptions): TunDevice {
  const problem = tunProblem();
  const tun = addon();
  if (problem !== undefined || tun === undefined) {
    throw new SocklabError('SOCKLAB_ERR_SOCKET', problem ?? 'no TUN support');
  }
  const arena = tun.arena();
  const meta = tun.meta();
  let closed = false;
  let droppedAtClose = 0;
  const onBatch = (count: number, bytes: number): void => {
    // The arena is read into again on the next event: copy the batch out, once.
    const copy = Buffer.from(arena.subarray(0, bytes));
    const packets: Buffer[] = new Array<Buffer>(count);
    for (let i = 0; i < count; i++) {
      const offset = meta[2 * i]!;
      packets[i] = copy.subarray(offset, offset + meta[2 * i + 1]!);
    }
    options.onPackets(packets);
  };
  const onError = (code: string): void => {
    if (closed) return;
    options.onError?.(
      new SocklabError('SOCKLAB_ERR_SOCKET', `reading TUN device ${name} failed (${code})`, {
        cause: Object.assign(new Error(code), { code }),
      }),
    );
  };
  let handle: unknown;
  let name: string;
  try {
    [handle, name] = tun.open(
      options.name,
      options.netnsPath ?? null,
      onBatch,
      onError,
      options.offload === true ? 2 : options.vnetHeader === true ? 1 : 0,
    );
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'EIO';
    const why = err instanceof Error ? err.message : String(err);
    throw new SocklabError(
      'SOCKLAB_ERR_SOCKET',
      `cannot create TUN device ${options.name}${options.netnsPath ? ` in ${options.netnsPath}` : ''}: ${why} (${code})`,
      { cause: err },
    );
  }
  tun.start(handle);
  return {
    name,
    write(packet) {
      if (closed) return false;
      return tun.write(handle, packet) === 0;
    },
    get writeDropped() {
      return closed ? droppedAtClose : tun.dropped(handle);
    },
    pause() {
      if (!closed) tun.stop(handle);
    },
    resume() {
      if (!closed) tun.start(handle);
    },
    close() {
      if (closed) return;
      droppedAtClose = tun.dropped(handle);
      closed = true;
      tun.close(handle);
    },
  };
}
