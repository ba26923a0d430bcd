// Where ota-verify talks to and as whom: --lab lab.json, or --endpoint/--region with credentials from
// the environment or an Alibaba Cloud CLI profile (~/.aliyun/config.json). Secrets are never printed.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { OtaError, errorMessage, quote } from '../shared/errors.js';
import { INSTANCE_ID_RULE } from '../shared/platform-rules.js';
import { readLabConnection } from '../shared/lab-connection.js';
import type { OpenApiClientOptions } from '../shared/openapi-client.js';

export interface TargetArgs {
  lab?: string;
  endpoint?: string;
  region?: string;
  profile?: string;
  instanceId?: string;
}

export interface Target extends OpenApiClientOptions {
  /** From the lab file; ota-verify otherwise needs --product-key. */
  productKey?: string;
  iotInstanceId?: string;
  secrets: string[];
  /** The lab ends with the process that started it (the demo): print no re-attach hint. */
  ephemeralLab?: boolean;
}

/** --endpoint must be an http(s) URL with a host; anything else is a usage error, not a network one. */
function checkEndpoint(endpoint: string | undefined): void {
  if (endpoint === undefined) return;
  let url: URL | undefined;
  try { url = new URL(endpoint); } catch { url = undefined; }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || !url.hostname) {
    throw new OtaError('USAGE', `--endpoint ${quote(endpoint)} is not a URL`, { expected: 'https://HOST (e.g. https://iot.cn-shanghai.aliyuncs.com)' });
  }
}

const REGION = /^[a-z0-9-]{2,40}$/;

export async function resolveTarget(a: TargetArgs, env: NodeJS.ProcessEnv = process.env): Promise<Target> {
  checkEndpoint(a.endpoint);
  if (a.region !== undefined && !REGION.test(a.region)) throw new OtaError('USAGE', `--region ${quote(a.region)} is not a region id`, { expected: 'a region id such as cn-shanghai' });
  if (a.instanceId !== undefined && !INSTANCE_ID_RULE.pattern.test(a.instanceId)) throw new OtaError('USAGE', `--instance-id ${quote(a.instanceId)} is not valid`, { expected: INSTANCE_ID_RULE.describe });
  if (a.lab) {
    const lab = await readLabConnection(a.lab);
    return {
      endpoint: a.endpoint ?? lab.apiEndpoint, regionId: a.region ?? lab.regionId, productKey: lab.productKey,
      credentials: { accessKeyId: env.ALIBABA_CLOUD_ACCESS_KEY_ID ?? lab.accessKeyId, accessKeySecret: env.ALIBABA_CLOUD_ACCESS_KEY_SECRET ?? lab.accessKeySecret },
      secrets: [lab.accessKeySecret, ...(env.ALIBABA_CLOUD_ACCESS_KEY_SECRET ? [env.ALIBABA_CLOUD_ACCESS_KEY_SECRET] : [])],
      // A lab run as an enterprise instance names it in lab.json; --instance-id overrides.
      ...((a.instanceId ?? lab.iotInstanceId) ? { iotInstanceId: a.instanceId ?? lab.iotInstanceId } : {}),
      ...(lab.ephemeral ? { ephemeralLab: true } : {}),
    };
  }
  let creds = env.ALIBABA_CLOUD_ACCESS_KEY_ID && env.ALIBABA_CLOUD_ACCESS_KEY_SECRET
    ? { accessKeyId: env.ALIBABA_CLOUD_ACCESS_KEY_ID, accessKeySecret: env.ALIBABA_CLOUD_ACCESS_KEY_SECRET, ...(env.ALIBABA_CLOUD_SECURITY_TOKEN ? { securityToken: env.ALIBABA_CLOUD_SECURITY_TOKEN } : {}) }
    : undefined;
  let region = a.region;
  if (a.profile || !creds) {
    const p = await readProfile(a.profile, env);
    if (p) {
      creds = p.creds;
      region ??= p.region;
    }
  }
  if (!creds) {
    throw new OtaError('USAGE', 'no credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, use --profile NAME, or --lab lab.json', { expected: 'an AccessKey pair' });
  }
  const endpoint = a.endpoint ?? (region ? `https://iot.${region}.aliyuncs.com` : undefined);
  if (!endpoint || !region) throw new OtaError('USAGE', 'no endpoint: give --region (e.g. cn-shanghai) or --endpoint URL with --region', { expected: '--region REGION' });
  return { endpoint, regionId: region, credentials: creds, ...(a.instanceId ? { iotInstanceId: a.instanceId } : {}), secrets: [creds.accessKeySecret, ...('securityToken' in creds && creds.securityToken ? [creds.securityToken] : [])] };
}

interface CliProfile { name?: string; mode?: string; access_key_id?: string; access_key_secret?: string; sts_token?: string; region_id?: string }

async function readProfile(name: string | undefined, env: NodeJS.ProcessEnv): Promise<{ creds: Target['credentials']; region?: string } | undefined> {
  const file = join(env.HOME ?? homedir(), '.aliyun', 'config.json');
  let cfg: { current?: string; profiles?: CliProfile[] };
  try {
    cfg = JSON.parse(await readFile(file, 'utf8')) as typeof cfg;
  } catch (cause) {
    if (!name) return undefined;
    throw new OtaError('USAGE', `cannot read the Alibaba Cloud CLI config ${file}: ${errorMessage(cause)}`, { cause });
  }
  const wanted = name ?? cfg.current ?? 'default';
  const p = cfg.profiles?.find((x) => x.name === wanted);
  if (!p?.access_key_id || !p.access_key_secret) {
    if (!name) return undefined;
    throw new OtaError('USAGE', `profile ${JSON.stringify(wanted)} in ${file} has no AccessKey pair`, { expected: 'a profile in AK or StsToken mode' });
  }
  return { creds: { accessKeyId: p.access_key_id, accessKeySecret: p.access_key_secret, ...(p.sts_token ? { securityToken: p.sts_token } : {}) }, ...(p.region_id ? { region: p.region_id } : {}) };
}
