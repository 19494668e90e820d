import { watch, type FSWatcher } from 'node:fs';
import type { experimental } from '@grpc/grpc-js';
import { toAetherError, type AetherError } from '../common/errors.js';
import { loadClientIdentity, loadNodeIdentity, type TlsIdentity } from './certs-dir.js';

/** Whose certificate a source serves: a node id's, or the client's (CLI, `connect()`). */
export type CertificateOwner = { readonly node: string } | { readonly client: true };

export interface CertificateSourceOptions {
  /** Also reload on SIGHUP (role processes; a CLI command keeps the default SIGHUP behaviour: exit). */
  readonly reloadOnSighup?: boolean;
  /** Renewal writes a key then a certificate: reload once the writes have been quiet this long. */
  readonly debounceMs?: number;
  /** A reload that found the files invalid (half-renewed, mismatched): the old identity stays in use. */
  readonly onError?: (err: AetherError) => void;
  /** A reload put a new identity in use. */
  readonly onReload?: (identity: TlsIdentity) => void;
}

const DEFAULT_DEBOUNCE_MS = 200;

/**
 * One identity (CA, certificate, key) from a certificates directory, kept current: the
 * directory is watched (and, in role processes, SIGHUP heard), and after a change the
 * files are loaded and checked again; a valid new identity is pushed to every listener,
 * an invalid one is reported and ignored. It is a grpc-js CertificateProvider, so gRPC
 * servers swap their TLS context in place (`setSecureContext`) and channels use the new
 * identity for their next connection; established connections keep the old one.
 */
export class CertificateSource implements experimental.CertificateProvider {
  private current: TlsIdentity;
  private readonly caListeners = new Set<experimental.CaCertificateUpdateListener>();
  private readonly identityListeners = new Set<experimental.IdentityCertificateUpdateListener>();
  private readonly watcher: FSWatcher;
  private debounce: NodeJS.Timeout | undefined;
  private readonly onSighup = (): void => void this.reload();
  private closed = false;

  /** Loads the identity now: CERTIFICATE when it is missing or invalid. */
  constructor(
    readonly dir: string,
    readonly owner: CertificateOwner,
    private readonly options: CertificateSourceOptions = {},
  ) {
    this.current = this.load();
    // The directory, not the files: renewal replaces each file by a rename, which a
    // watch on the old file would not follow.
    this.watcher = watch(dir, { persistent: false }, () => this.scheduleReload());
    this.watcher.on('error', (err) => this.options.onError?.(toAetherError(err, 'CERTIFICATE', `watching ${dir}`)));
    if (options.reloadOnSighup) process.on('SIGHUP', this.onSighup);
  }

  identity(): TlsIdentity {
    return this.current;
  }

  /** Loads the files again; true when a new, valid identity is now in use. */
  reload(): boolean {
    if (this.closed) return false;
    let next: TlsIdentity;
    try {
      next = this.load();
    } catch (err) {
      this.options.onError?.(toAetherError(err, 'CERTIFICATE'));
      return false;
    }
    if (next.caPem === this.current.caPem && next.certPem === this.current.certPem && next.keyPem === this.current.keyPem) return false;
    this.current = next;
    for (const l of this.caListeners) l(this.caUpdate());
    for (const l of this.identityListeners) l(this.identityUpdate());
    this.options.onReload?.(next);
    return true;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.debounce);
    this.watcher.close();
    process.off('SIGHUP', this.onSighup);
  }

  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(listener);
    // grpc-js registers listeners before the watcher that consumes their update: answer on the next tick, as its own providers do.
    process.nextTick(() => this.caListeners.has(listener) && listener(this.caUpdate()));
  }

  removeCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.add(listener);
    process.nextTick(() => this.identityListeners.has(listener) && listener(this.identityUpdate()));
  }

  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(listener);
  }

  private load(): TlsIdentity {
    return 'node' in this.owner ? loadNodeIdentity(this.dir, this.owner.node) : loadClientIdentity(this.dir);
  }

  private scheduleReload(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.reload(), this.options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
    this.debounce.unref();
  }

  private caUpdate(): experimental.CaCertificateUpdate {
    return { caCertificate: Buffer.from(this.current.caPem) };
  }

  private identityUpdate(): experimental.IdentityCertificateUpdate {
    return { certificate: Buffer.from(this.current.certPem), privateKey: Buffer.from(this.current.keyPem) };
  }
}
