// The running lab as `ota-lab`'s own commands reach it: its OpenAPI signed with the lab's AccessKey
// and carrying the lab's IotInstanceId on every call when it runs as an enterprise instance
// (`ota-lab start --instance-id`), as ota-verify does with --instance-id: such an instance refuses
// any call without it (iot.system.InstanceNotFound); and its file server's admin routes. A lab that
// cannot be reached (lab.json left by a lab that was killed) is one line that says so.
import { OtaError, isOtaError } from '../../shared/errors.js';
import { createOpenApiCall, type ApiCall } from '../../shared/openapi-client.js';
import type { LabConnection } from '../../shared/lab-connection.js';
import { isAlive } from '../connection-file.js';

type LabAccess = Pick<LabConnection, 'apiEndpoint' | 'regionId' | 'accessKeyId' | 'accessKeySecret' | 'iotInstanceId' | 'pid'>;

/** Nothing answers at the lab's address: say whether the lab that wrote the file still runs. */
export function labUnreachable(labFile: string, conn: Pick<LabConnection, 'pid'>, cause: unknown): OtaError {
  const hint = conn.pid === undefined ? 'is ota-lab running?'
    : isAlive(conn.pid) ? `the lab that wrote it (pid ${conn.pid}) still runs but does not answer`
      : `the lab that wrote it (pid ${conn.pid}) has stopped: start one with ota-lab start`;
  return new OtaError('TRANSPORT_ERROR', `cannot reach the lab of ${labFile}: ${hint}`, { cause });
}

export function labApiCall(conn: LabAccess, labFile: string): ApiCall {
  const call = createOpenApiCall({ endpoint: conn.apiEndpoint, regionId: conn.regionId, credentials: { accessKeyId: conn.accessKeyId, accessKeySecret: conn.accessKeySecret } });
  const instance = conn.iotInstanceId;
  return async (action, params) => {
    try {
      return await call(action, instance ? { IotInstanceId: instance, ...params } : params);
    } catch (err) {
      throw isOtaError(err, 'TRANSPORT_ERROR') ? labUnreachable(labFile, conn, err) : err;
    }
  };
}

/** fetch() to the lab's file server; a connection that cannot be made is `labUnreachable`. */
export async function labFetch(labFile: string, conn: Pick<LabConnection, 'pid'>, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    throw labUnreachable(labFile, conn, err);
  }
}
