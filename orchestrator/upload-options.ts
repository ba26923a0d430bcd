// The flags of a firmware file, shared by `verify --file` and `upload FILE`: parsed here so the two
// commands cannot drift apart.
import type { Argv } from 'yargs';
import { UsageError } from '../shared/cli-support.js';
import type { UploadArgs } from './upload-request.js';

export function uploadOptions<T>(y: Argv<T>) {
  return y
    .option('version', { type: 'string', describe: 'with a file: the version it installs (DestVersion), as the benches report it' })
    .option('module', { type: 'string', describe: 'with a file: its OTA module (default: the device\'s default module)' })
    .option('sign-method', { type: 'string', choices: ['MD5', 'SHA256', 'md5', 'sha256'], describe: 'with a file: the digest registered with it (default SHA256)' })
    .option('src-version', { type: 'string', describe: 'with a file: a delta package from this version' })
    .option('firmware-name', { type: 'string', describe: 'with a file: the firmware\'s name (default: the file\'s name and the version)' })
    .option('desc', { type: 'string', describe: 'with a file: a description, up to 100 characters' })
    .option('udi', { type: 'string', describe: 'with a file: the firmware\'s Udi (extra data for the devices)' });
}

interface UploadFlags { version?: string; module?: string; 'sign-method'?: string; 'src-version'?: string; 'firmware-name'?: string; desc?: string; udi?: string }

/** The upload request of a command's flags; `file` undefined means no file was given, and then none
 *  of the file's flags may be either. */
export function uploadArgsOf(a: UploadFlags, file: string | undefined): UploadArgs | undefined {
  const given = { version: a.version, module: a.module, signMethod: a['sign-method'], srcVersion: a['src-version'], firmwareName: a['firmware-name'], desc: a.desc, udi: a.udi };
  if (file === undefined) {
    const stray = Object.entries(given).find(([, v]) => v !== undefined);
    if (stray) throw new UsageError(`--${stray[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} describes a firmware file: give --file FILE too, or leave it out with --firmware-id`);
    return undefined;
  }
  return { file, ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) };
}
