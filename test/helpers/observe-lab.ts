// Tests observe a lab the way an application observes the platform: through the server-side
// subscription (an MQTT application login with the lab's AccessKey), never through the lab's insides.
import type { Lab } from '../../lab/start-lab.js';
import type { AppMessage, OtaProgressNotice } from '../../shared/app-subscription.js';
import { connectAppSubscriber } from '../../shared/app-subscriber.js';

export interface LabObserver {
  /** Every forwarded message since the observer logged in, in arrival order. */
  readonly messages: readonly AppMessage[];
  /** The next message (arriving from now on) that `pick` accepts. */
  next<T extends AppMessage>(pick: (m: AppMessage) => m is T): Promise<T>;
  next(pick: (m: AppMessage) => boolean): Promise<AppMessage>;
  /** A live list of what `pick` accepts from now on. */
  collect<T>(pick: (m: AppMessage) => T | undefined): T[];
  close(): Promise<void>;
}

const observers = new WeakMap<Lab, Promise<LabObserver>>();

/** The lab's application observer, logged in and subscribed once per lab; it closes with the lab. */
export function observeLab(lab: Lab): Promise<LabObserver> {
  let made = observers.get(lab);
  if (!made) {
    made = connect(lab);
    observers.set(lab, made);
    const closeLab = lab.close.bind(lab);
    lab.close = async () => {
      await made?.then((o) => o.close(), () => undefined);
      await closeLab();
    };
  }
  return made;
}

async function connect(lab: Lab): Promise<LabObserver> {
  const c = lab.connection;
  const sub = await connectAppSubscriber({
    mqttUrl: c.mqttUrl, accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret, ...(c.caFile ? { caFile: c.caFile } : {}),
  });
  const messages: AppMessage[] = [];
  sub.on((m) => { messages.push(m); });
  const observer: LabObserver = {
    messages,
    next(pick: (m: AppMessage) => boolean): Promise<never> {
      return new Promise((resolve) => {
        const off = sub.on((m) => {
          if (pick(m)) { off(); resolve(m as never); }
        });
      });
    },
    collect<T>(pick: (m: AppMessage) => T | undefined): T[] {
      const out: T[] = [];
      sub.on((m) => {
        const v = pick(m);
        if (v !== undefined) out.push(v);
      });
      return out;
    },
    close: () => sub.close(),
  };
  return observer;
}

export type ProgressMessage = Extract<AppMessage, { kind: 'progress' }>;

export function isProgressOf(deviceName: string) {
  return (m: AppMessage): m is ProgressMessage => m.kind === 'progress' && m.deviceName === deviceName;
}

/** A step as the platform forwards it, for assertions on what the platform received. */
export function stepOf(m: AppMessage, deviceName: string): OtaProgressNotice | undefined {
  return m.kind === 'progress' && m.deviceName === deviceName ? m.body : undefined;
}
