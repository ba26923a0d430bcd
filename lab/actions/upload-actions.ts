// GenerateOTAUploadURL: an object-store POST policy for one new object (docs/platform.md, "Firmware
// upload"). The store itself (lab/object-upload.ts) signs it; this action only reads the request.
import type { ActionHandler } from './context.js';

export interface UploadGranter {
  grant(fileSuffix: string | undefined): object;
}

/** `FileSuffix` (optional) ends the object's key, e.g. `bin` or `tar.gz`. */
const FILE_SUFFIX_RULE = { pattern: /^[A-Za-z0-9]{1,10}(\.[A-Za-z0-9]{1,10})?$/, describe: 'a file suffix such as bin, zip or tar.gz (letters and digits)' };

export function generateOtaUploadUrl(store: UploadGranter): ActionHandler {
  return (ctx) => {
    const suffix = ctx.params.optString('FileSuffix', FILE_SUFFIX_RULE);
    return { Data: store.grant(suffix) };
  };
}
