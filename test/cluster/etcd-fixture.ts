import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectEtcd, type Etcd3 } from '../../cluster/etcd.js';
import { LocalEtcd } from '../../topology/local-etcd.js';

/** A real single-member etcd on loopback in a temp dir, for one test file. */
export interface EtcdFixture {
  readonly etcd: LocalEtcd;
  /** A new client; closed by `stop()`. */
  client(): Etcd3;
  stop(): Promise<void>;
}

export async function startEtcd(): Promise<EtcdFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'aetherflow-etcd-'));
  const etcd = await LocalEtcd.start({ members: 1, dataDir: dir, token: 'test' });
  const clients: Etcd3[] = [];
  return {
    etcd,
    client() {
      const c = connectEtcd(etcd.endpoints);
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.close();
      await etcd.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
