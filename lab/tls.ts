// A throwaway CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI (node
// has no API to issue certificates). Agents trust the CA file the lab writes, as benches trust the
// platform's own root for port 8883.
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { OtaError } from '../shared/errors.js';

const run = promisify(execFile);

export interface LabTls {
  caFile: string;
  key: Buffer;
  cert: Buffer;
}

/** Reuse the material in `dir` when present (a lab restarted with --state-dir keeps its CA). */
export async function ensureLabTls(dir: string): Promise<LabTls> {
  await mkdir(dir, { recursive: true });
  const f = (n: string) => join(dir, n);
  const have = await access(f('server.crt')).then(() => true, () => false);
  if (!have) {
    try {
      await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '825',
        '-subj', '/CN=ota-lab test CA', '-keyout', f('ca.key'), '-out', f('ca.crt'),
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
      await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-subj', '/CN=localhost', '-keyout', f('server.key'), '-out', f('server.csr')]);
      await writeFile(f('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
      await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial',
        '-days', '825', '-extfile', f('server.ext'), '-out', f('server.crt')]);
    } catch (cause) {
      throw new OtaError('TLS_SETUP_FAILED', 'could not make the lab CA with the openssl command; install openssl (apt-get install openssl) or run the lab without --tls', { cause });
    }
  }
  return { caFile: f('ca.crt'), key: await readFile(f('server.key')), cert: await readFile(f('server.crt')) };
}
