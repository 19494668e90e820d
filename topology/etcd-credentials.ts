import { readFileSync } from 'node:fs';
import { AetherError } from '../common/errors.js';
import type { EtcdSecuritySpec } from './types.js';

/** What an etcd3 client is given to reach a secured etcd: TLS material and/or a user's password. */
export interface EtcdCredentials {
  readonly tls?: { readonly rootCertificate: Buffer; readonly privateKey?: Buffer; readonly certChain?: Buffer };
  readonly auth?: { readonly username: string; readonly password: string };
}

/** No TLS, no user: the local etcd of `up`, and any etcd the topology names without `security.etcd`. */
export const NO_ETCD_CREDENTIALS: EtcdCredentials = {};

/** The bytes of `security.etcd.<field>`; TOPOLOGY_INVALID naming the field and the file when it cannot be read. */
function readCredentialFile(field: keyof EtcdSecuritySpec, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new AetherError('TOPOLOGY_INVALID', `cannot read security.etcd.${field} ${file}: ${(err as Error).message}`, { cause: err, details: { field, file } });
  }
}

/**
 * Reads the files `security.etcd` names (relative paths from the working directory,
 * like dataDirs). The password is the password file's text less one trailing newline,
 * as `echo secret > file` writes it. The checks of topology/checks.ts have made sure
 * that what is given is complete (a certificate with its key and a CA, a password with
 * its user).
 */
export function loadEtcdCredentials(spec: EtcdSecuritySpec): EtcdCredentials {
  const tls =
    spec.caFile === null
      ? undefined
      : {
          rootCertificate: readCredentialFile('caFile', spec.caFile),
          ...(spec.certFile === null ? {} : { certChain: readCredentialFile('certFile', spec.certFile) }),
          ...(spec.keyFile === null ? {} : { privateKey: readCredentialFile('keyFile', spec.keyFile) }),
        };
  const auth =
    spec.username === null || spec.passwordFile === null
      ? undefined
      : { username: spec.username, password: readCredentialFile('passwordFile', spec.passwordFile).toString('utf8').replace(/\r?\n$/, '') };
  return { ...(tls ? { tls } : {}), ...(auth ? { auth } : {}) };
}
