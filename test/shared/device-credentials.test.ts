import { createRequire } from 'node:module';
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  checkDeviceCredentials, parseClientId, parseUsername, signDeviceCredentials, signingContent,
} from '../../shared/device-credentials.js';
import { isOtaError } from '../../shared/errors.js';

const require = createRequire(import.meta.url);

describe('device credentials (docs/platform.md § Device connection)', () => {
  it('reproduces the documented example', () => {
    const content = signingContent({ clientId: '12345', deviceName: 'device', productKey: 'pk', timestamp: '789' });
    expect(content).toBe('clientId12345deviceNamedeviceproductKeypktimestamp789');
    expect(createHmac('sha1', 'secret').update(content).digest('hex').toUpperCase()).toBe('FAFD82A3D602B37FB0FA8B7892F24A477F851A14');
    // The same credentials as a device would send them, upper-case hex as the C SDK does.
    checkDeviceCredentials(
      { clientId: '12345|securemode=3,signmethod=hmacsha1,timestamp=789|', username: 'device&pk', password: 'FAFD82A3D602B37FB0FA8B7892F24A477F851A14' },
      { productKey: 'pk', deviceName: 'device' }, 'secret',
    );
  });

  it.each(['hmacmd5', 'hmacsha1', 'hmacsha256'] as const)('signs and checks with %s, hex in either case', (signMethod) => {
    const id = { productKey: 'a1TestPK001', deviceName: 'dev001' };
    const creds = signDeviceCredentials({ ...id, deviceSecret: 's3cr3t-value', signMethod, timestampMs: 2524608000000 });
    expect(creds.username).toBe('dev001&a1TestPK001');
    expect(creds.clientId).toBe(`a1TestPK001.dev001|securemode=2,signmethod=${signMethod},timestamp=2524608000000|`);
    checkDeviceCredentials(creds, id, 's3cr3t-value');
    checkDeviceCredentials({ ...creds, password: creds.password.toUpperCase() }, id, 's3cr3t-value');
  });

  it('ignores unknown clientId extension params, as sent by the C SDK 4.1', () => {
    const id = { productKey: 'a1TestPK001', deviceName: 'dev001' };
    const password = createHmac('sha256', 'k')
      .update(signingContent({ clientId: 'a1TestPK001.dev001', deviceName: 'dev001', productKey: 'a1TestPK001', timestamp: '2524608000000' }))
      .digest('hex').toUpperCase();
    const clientId = 'a1TestPK001.dev001|timestamp=2524608000000,_ss=1,_v=sdk-c-4.1.0,securemode=3,signmethod=hmacsha256,ext=3,_conn=tls_0|';
    expect(parseClientId(clientId).params._v).toBe('sdk-c-4.1.0');
    checkDeviceCredentials({ clientId, username: 'dev001&a1TestPK001', password }, id, 'k');
  });

  it('leaves out a param the clientId does not carry (no timestamp)', () => {
    const id = { productKey: 'pk1', deviceName: 'dev1' };
    const password = createHmac('md5', 'k').update('clientIdabcdeviceNamedev1productKeypk1').digest('hex');
    checkDeviceCredentials({ clientId: 'abc|securemode=3,signmethod=hmacmd5|', username: 'dev1&pk1', password }, id, 'k');
  });

  it('refuses a wrong secret, an unknown sign method and a bad username without quoting the secret', () => {
    const id = { productKey: 'pk1', deviceName: 'dev1' };
    const creds = signDeviceCredentials({ ...id, deviceSecret: 'right-secret' });
    for (const attempt of [
      () => checkDeviceCredentials(creds, id, 'wrong-secret'),
      () => checkDeviceCredentials({ ...creds, clientId: creds.clientId.replace('hmacsha256', 'hmacsha512') }, id, 'right-secret'),
      () => parseUsername('no-ampersand'),
    ]) {
      let caught: unknown;
      try { attempt(); } catch (err) { caught = err; }
      expect(isOtaError(caught, 'BAD_CREDENTIALS')).toBe(true);
      expect(String((caught as Error).message)).not.toContain('right-secret');
    }
  });

  it('agrees with the design card reference, aliyun-iot-mqtt, without letting it connect or print', () => {
    // Its nested mqtt 2.x is replaced in the require cache by a stub that records the options.
    const mqttPath = require.resolve('mqtt', { paths: [require.resolve('aliyun-iot-mqtt')] });
    const seen: { url: string; opts: { clientId: string; username: string; password: string } }[] = [];
    require.cache[mqttPath] = { id: mqttPath, filename: mqttPath, loaded: true, exports: { connect: (url: string, opts: never) => { seen.push({ url, opts }); return {}; } } } as unknown as NodeJS.Module;
    const ref = require('aliyun-iot-mqtt') as { getAliyunIotMqttClient(o: Record<string, string>): unknown };
    const log = console.log;
    console.log = () => undefined; // it prints its options, secret included
    try {
      ref.getAliyunIotMqttClient({ productKey: 'a1RefPK0001', deviceName: 'ref-dev', deviceSecret: 'ref-secret-123' });
    } finally {
      console.log = log;
    }
    expect(seen).toHaveLength(1);
    const { opts, url } = seen[0] as (typeof seen)[number];
    expect(url).toContain('a1RefPK0001.iot-as-mqtt.cn-shanghai.aliyuncs.com');
    checkDeviceCredentials(opts, parseUsername(opts.username), 'ref-secret-123');
  });
});
