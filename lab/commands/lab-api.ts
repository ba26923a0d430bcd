// The running lab's OpenAPI as `ota-lab`'s own commands call it: signed with the lab's AccessKey, and
// carrying the lab's IotInstanceId on every call when it runs as an enterprise instance
// (`ota-lab start --instance-id`), as ota-verify does with --instance-id: such an instance refuses
// any call without it (iot.system.InstanceNotFound).
import { createOpenApiCall, type ApiCall } from '../../shared/openapi-client.js';
import type { LabConnection } from '../../shared/lab-connection.js';

export function labApiCall(conn: Pick<LabConnection, 'apiEndpoint' | 'regionId' | 'accessKeyId' | 'accessKeySecret' | 'iotInstanceId'>): ApiCall {
  const call = createOpenApiCall({ endpoint: conn.apiEndpoint, regionId: conn.regionId, credentials: { accessKeyId: conn.accessKeyId, accessKeySecret: conn.accessKeySecret } });
  const instance = conn.iotInstanceId;
  return instance ? (action, params) => call(action, { IotInstanceId: instance, ...params }) : call;
}
