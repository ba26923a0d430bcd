// The running lab as `ota-lab`'s own commands reach it: its OpenAPI signed with the lab's AccessKey
// and carrying the lab's IotInstanceId on every call when it runs as an enterprise instance
// (`ota-lab start --instance-id`), as ota-verify does with --instance-id: such an instance refuses
// any call without it (iot.system.InstanceNotFound); and its file server's admin routes. A lab that
// cannot be reached (lab.json left by a lab that was killed) is one line that says so.
import { isOtaError } from '../../shared/errors.js';
import { createOpenApiCall, type ApiCall } from '../../shared/openapi-client.js';
import type { LabConnection } from '../../shared/lab-connection.js';
import { labUnreachable } from '../../shared/lab-liveness.js';

type LabAccess = Pick<LabConnection, 'apiEndpoint' | 'regionId' | 'accessKeyId' | 'accessKeySecret' | 'iotInstanceId' | 'pid'>;

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
