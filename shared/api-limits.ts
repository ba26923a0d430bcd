// Per-account QPS of each OTA API (docs/platform.md, § OpenAPI): the lab enforces them, the orchestrator stays
// under them.
export const PLATFORM_QPS: Readonly<Record<string, number>> = Object.freeze({
  CreateOTAVerifyJob: 10,
  QueryOTAFirmware: 20,
  CreateOTAFirmware: 10,
  GenerateOTAUploadURL: 10,
  ListOTAFirmware: 10,
  QueryOTAJob: 10,
  ListOTATaskByJob: 10,
  ListOTAJobByFirmware: 10,
  CancelOTATaskByJob: 5,
  ReupgradeOTATask: 20,
  ConfirmOTATask: 20,
  CancelOTATaskByDevice: 10,
  QueryDeviceDetail: 50,
  ListOTAUnfinishedTaskByDevice: 10,
  // From the platform's API reference (docs/platform.md, § OpenAPI): one call for up to 100 devices.
  BatchQueryDeviceDetail: 5,
});

/** Codes worth retrying with backoff: throttling and the platform's transient failures. */
export const RETRYABLE_PLATFORM_CODES: ReadonlySet<string> = new Set([
  'Throttling', 'Throttling.User', 'Throttling.Api', 'ServiceUnavailable', 'InternalError', 'iot.system.SystemException',
]);
