// An agent started with --lab lab.json depends on the lab that wrote the file. A lab that was killed
// leaves its file behind (one that stops cleanly removes it), and a lab restarted on the same file
// takes it over: with the same --state-dir and --mqtt-port it has the same address and device
// secrets, so a running agent reconnects by itself; otherwise (new ports, new secrets) the agent must
// be restarted to read the new file. So: refuse to start on a file whose lab is gone and whose
// address does not answer, and while running keep retrying but say once, in one line, why it fails.
import { connect } from 'node:net';
import { readLabConnection, type LabConnection } from '../shared/lab-connection.js';
import { labHasStopped, labUnreachable } from '../shared/lab-liveness.js';
import type { Logger } from '../shared/logger.js';

/** How long the start-up probe waits for the lab's MQTT port: loopback answers at once. */
const PROBE_TIMEOUT_MS = 3000;

/** Whether anything accepts a TCP connection at an mqtt:// or mqtts:// URL. */
function answers(mqttUrl: string): Promise<boolean> {
  let url: URL;
  try { url = new URL(mqttUrl); } catch { return Promise.resolve(false); }
  const port = Number(url.port || (url.protocol === 'mqtts:' ? 8883 : 1883));
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port, timeout: PROBE_TIMEOUT_MS });
    const done = (ok: boolean) => { socket.destroy(); resolve(ok); };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

/** Before the agent starts: a file whose lab has stopped is the same one-line refusal (exit 3) the
 *  other CLIs give. Its address is tried first, so a file copied to a bench on another machine (where
 *  the pid means nothing) or a lab restarted on the same port is not refused. */
export async function refuseStoppedLab(labFile: string, lab: LabConnection): Promise<void> {
  if (labHasStopped(lab) && !(await answers(lab.mqttUrl))) throw labUnreachable(labFile, lab, undefined);
}

/** While the agent runs: when reconnecting keeps failing, one warning line per situation found (the
 *  lab stopped, its file is gone, another lab took the file over) and none while the lab runs. */
export function watchLabOrigin(labFile: string, started: LabConnection, device: string, agentEvents: NodeJS.EventEmitter, log: Logger): void {
  const said = new Set<string>();
  let checking = false;
  const check = async () => {
    const now = await readLabConnection(labFile).catch(() => undefined);
    const message = situation(labFile, started, device, now);
    if (message === undefined || said.has(message)) return;
    said.add(message);
    log.warn({ labFile, mqttUrl: started.mqttUrl }, message);
  };
  agentEvents.on('offline', (failures: number) => {
    // One failure is the drop itself; from the second the broker is not coming back on its own.
    if (failures < 2 || checking) return;
    checking = true;
    // check() reads the file with its refusals caught; nothing here may reject unheard.
    void check().catch(() => undefined).finally(() => { checking = false; });
  });
}

/** Why connecting fails, in words, or undefined when the lab that owns the file runs at our address. */
function situation(labFile: string, started: LabConnection, device: string, now: LabConnection | undefined): string | undefined {
  const retrying = `still retrying ${started.mqttUrl}`;
  if (now === undefined) {
    // A file removed (or spoiled) while its lab still runs says nothing about why we cannot connect.
    if (!labHasStopped(started)) return undefined;
    return `the lab that wrote ${labFile} (pid ${started.pid ?? 'unknown'}) has stopped and its file is gone: ${retrying}; after ota-lab start, restart ota-agent with the new file`;
  }
  if (labHasStopped(now)) {
    return `the lab that wrote ${labFile} (pid ${now.pid ?? 'unknown'}) has stopped: start one with ota-lab start (${retrying}; a lab restarted with the same --state-dir and --mqtt-port is found again, otherwise restart ota-agent)`;
  }
  const secret = (c: LabConnection) => c.devices.find((d) => d.deviceName === device)?.deviceSecret;
  if (now.pid !== started.pid && (now.mqttUrl !== started.mqttUrl || secret(now) !== secret(started))) {
    return `the lab that wrote ${labFile} (pid ${started.pid ?? 'unknown'}) has stopped and another lab (pid ${now.pid ?? 'unknown'}) now owns the file at another address or with other device secrets: restart ota-agent to use it`;
  }
  // The file's lab runs at our address (or its pid is unknown): nothing to add to the reconnect lines.
  return undefined;
}
