import { describe, expect, it } from 'vitest';
import { deviceTopic, parseDeviceTopic } from '../../shared/topics.js';
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
