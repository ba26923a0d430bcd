import { describe, expect, it } from 'vitest';
import { deviceTopic, mayPublish, maySubscribe, parseDeviceTopic } from '../../shared/topics.js';
import { isOtaError } from '../../shared/errors.js';

describe('topics (docs/platform.md § Topics and directions)', () => {
  const id = { productKey: 'a1TestPK001', deviceName: 'dev001' };
  it('builds and recognises every topic', () => {
    const expected = {
      inform: '/ota/device/inform/a1TestPK001/dev001',
      upgrade: '/ota/device/upgrade/a1TestPK001/dev001',
      progress: '/ota/device/progress/a1TestPK001/dev001',
      firmwareGet: '/sys/a1TestPK001/dev001/thing/ota/firmware/get',
      firmwareGetReply: '/sys/a1TestPK001/dev001/thing/ota/firmware/get_reply',
      fileDownload: '/sys/a1TestPK001/dev001/thing/file/download',
      fileDownloadReply: '/sys/a1TestPK001/dev001/thing/file/download_reply',
    } as const;
    for (const [kind, topic] of Object.entries(expected)) {
      expect(deviceTopic(kind as keyof typeof expected, id)).toBe(topic);
      expect(parseDeviceTopic(topic)).toEqual({ ...id, kind });
    }
    expect(parseDeviceTopic('/ota/device/other/a/b')).toBeUndefined();
    expect(parseDeviceTopic('/sys/a/b/thing/event/post')).toBeUndefined();
  });

  it.each(['a/b', 'a+', '#', '', 'with space'])('refuses the segment %j', (bad) => {
    let caught: unknown;
    try { deviceTopic('inform', { productKey: 'pk', deviceName: bad }); } catch (err) { caught = err; }
    expect(isOtaError(caught, 'INVALID_TOPIC_SEGMENT')).toBe(true);
  });
});

describe('device topic rules (the platform\'s topic categories)', () => {
  const me = { productKey: 'a1TestPK001', deviceName: 'dev001' };
  it.each([
    '/ota/device/inform/a1TestPK001/dev001',
    '/ota/device/progress/a1TestPK001/dev001',
    '/sys/a1TestPK001/dev001/thing/ota/firmware/get',
    '/sys/a1TestPK001/dev001/thing/event/property/post',
    '/sys/a1TestPK001/dev001/thing/event/overheat/post',
    '/sys/a1TestPK001/dev001/thing/deviceinfo/update',
    '/sys/a1TestPK001/dev001/thing/service/property/set_reply',
    '/sys/a1TestPK001/dev001/thing/service/reboot_reply',
    '/sys/a1TestPK001/dev001/thing/config/push_reply',
    '/sys/a1TestPK001/dev001/thing/model/up_raw',
    '/sys/a1TestPK001/dev001/rrpc/response/1234',
    '/ext/rrpc/1234/a1TestPK001/dev001/user/get',
    '/ext/ntp/a1TestPK001/dev001/request',
    '/shadow/update/a1TestPK001/dev001',
    '/a1TestPK001/dev001/user/update',
  ])('lets a device publish on its own uplink topic %s', (t) => {
    expect(mayPublish(me, t)).toBe(true);
  });

  it.each([
    '/ota/device/upgrade/a1TestPK001/dev001',
    '/sys/a1TestPK001/dev001/thing/ota/firmware/get_reply',
    '/sys/a1TestPK001/dev001/thing/event/property/post_reply',
    '/sys/a1TestPK001/dev001/thing/service/property/set',
    '/sys/a1TestPK001/dev001/thing/config/push',
    '/sys/a1TestPK001/dev001/rrpc/request/1234',
    '/shadow/get/a1TestPK001/dev001',
    '/broadcast/a1TestPK001/all',
    '/sys/a1TestPK001/dev002/thing/event/property/post',
    '/ota/device/inform/a1TestPK001/dev002',
    '/a1TestPK001/dev002/user/update',
    '/a1OtherPK01/dev001/user/update',
    '/sys/a1TestPK001/dev001/other/thing',
    '/anything/else',
  ])('refuses a device publishing on %s (a downlink topic, or not its own)', (t) => {
    expect(mayPublish(me, t)).toBe(false);
  });

  it.each([
    '/ota/device/upgrade/a1TestPK001/dev001',
    '/sys/a1TestPK001/dev001/thing/event/property/post_reply',
    '/sys/a1TestPK001/dev001/thing/event/+/post_reply',
    '/sys/a1TestPK001/dev001/thing/service/property/set',
    '/sys/a1TestPK001/dev001/thing/service/+',
    '/sys/a1TestPK001/dev001/thing/service/#',
    '/sys/a1TestPK001/dev001/thing/config/push',
    '/sys/a1TestPK001/dev001/thing/#',
    '/sys/a1TestPK001/dev001/rrpc/request/+',
    '/ext/rrpc/+/a1TestPK001/dev001/user/get',
    '/shadow/get/a1TestPK001/dev001',
    '/a1TestPK001/dev001/user/#',
    '/broadcast/a1TestPK001/+',
  ])('lets a device subscribe to its own downlink %s', (t) => {
    expect(maySubscribe(me, t)).toBe(true);
  });

  it.each([
    '/sys/a1TestPK001/dev001/thing/event/property/post',
    '/ota/device/inform/a1TestPK001/dev001',
    '/shadow/update/a1TestPK001/dev001',
    '/sys/a1TestPK001/dev002/thing/service/property/set',
    '/sys/a1TestPK001/+/thing/service/property/set',
    '/sys/a1TestPK001/+/thing/#',
    '/sys/+/dev001/thing/#',
    '/ota/device/upgrade/a1TestPK001/+',
    '/ota/device/upgrade/+/+',
    '/ota/device/+/a1TestPK001/dev001',
    '/a1TestPK001/+/user/#',
    '/broadcast/a1OtherPK01/+',
    '#',
    '/#',
    '/sys/#',
    '+/+/+',
  ])('refuses a device subscribing to %s (its uplink, or beyond its own name)', (t) => {
    expect(maySubscribe(me, t)).toBe(false);
  });
});
