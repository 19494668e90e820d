import { AetherError, assert } from '../common/errors.js';

/**
 * Calls of one kind in progress (reads waiting for the frontier, open scans, open
 * watches), counted per client connection (the gRPC peer) and in all, each count
 * bounded. A call takes a slot before it starts waiting or streaming and gives it back
 * when it ends, however it ends; a call beyond either bound is refused TOO_MANY_REQUESTS.
 */
export class CallSlots {
  private readonly byPeer = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly what: string,
    private readonly maxPerPeer: number,
    private readonly maxTotal: number,
  ) {
    assert(maxPerPeer >= 1 && maxTotal >= maxPerPeer, 'call slot bounds');
  }

  /** Takes a slot for `peer`; returns the function that gives it back (once; later calls do nothing). */
  acquire(peer: string): () => void {
    const mine = this.byPeer.get(peer) ?? 0;
    if (mine >= this.maxPerPeer || this.total >= this.maxTotal) {
      const perPeer = mine >= this.maxPerPeer;
      throw new AetherError(
        'TOO_MANY_REQUESTS',
        perPeer ? `${mine} ${this.what} already open on this connection (at most ${this.maxPerPeer})` : `${this.total} ${this.what} already open (at most ${this.maxTotal})`,
        { details: { what: this.what, limit: perPeer ? this.maxPerPeer : this.maxTotal, scope: perPeer ? 'connection' : 'server' } },
      );
    }
    this.byPeer.set(peer, mine + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = this.byPeer.get(peer)! - 1;
      if (left === 0) this.byPeer.delete(peer);
      else this.byPeer.set(peer, left);
    };
  }

  /** Slots taken now, in all. */
  get open(): number {
    return this.total;
  }
}
