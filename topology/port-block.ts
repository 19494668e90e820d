import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AetherError } from '../common/errors.js';
import { processAlive } from './supervisor.js';

/**
 * Loopback ports for a copy of a topology (topology/copy.ts), from below the kernel's
 * ephemeral range (32768 and up on Linux by default): a port the kernel hands out for
 * port 0 can also become the source port of any outgoing connection between the probe
 * and the role's bind, and the role then fails to listen at every restart (the likely
 * cause of deployments left at "13 of 14 processes ready"). Copies made at the same time (test
 * files run in parallel) each reserve a whole block through a lock file naming the
 * reserving process, so they never share a port; a block whose process is gone is free.
 */
export const PORT_BLOCK_SIZE = 64;
const FIRST_PORT = 20_000;
const BLOCKS = 190; // up to port 32159, below the ephemeral range
const MAX_TRIES = 200;

const lockDir = (): string => join(tmpdir(), 'aetherflow-port-blocks');

/** Reserves a block of PORT_BLOCK_SIZE consecutive free ports for this process; returns them. */
export async function reservePortBlock(): Promise<number[]> {
  mkdirSync(lockDir(), { recursive: true });
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    const start = FIRST_PORT + Math.floor(Math.random() * BLOCKS) * PORT_BLOCK_SIZE;
    if (!lock(start)) continue;
    const ports = Array.from({ length: PORT_BLOCK_SIZE }, (_, i) => start + i);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return ports;
    // Something else listens in it: leave the block locked (it would fail the next try too).
  }
  throw new AetherError('UNAVAILABLE', `no free block of ${PORT_BLOCK_SIZE} loopback ports between ${FIRST_PORT} and ${FIRST_PORT + BLOCKS * PORT_BLOCK_SIZE} after ${MAX_TRIES} tries`);
}

/** Takes the lock file of the block at `start`, or one whose process is gone; false when a live process holds it. */
function lock(start: number): boolean {
  const file = join(lockDir(), String(start));
  for (let i = 0; i < 2; i++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readText(file));
      if (Number.isInteger(owner) && owner > 0 && (owner === process.pid || processAlive(owner))) return false;
      rmSync(file, { force: true });
    }
  }
  return false;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
