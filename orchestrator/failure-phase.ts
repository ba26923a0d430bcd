// Which phase of an upgrade a failed device failed in, read from the platform's TaskDesc. The
// platform has no phase field: the desc is the device's own failure text (ota-agent writes
// "download …", "digest mismatch", "install hook …", "version read back …", "self-test failed: …"),
// or the platform's own words ("report version is not conform", a timeout). Unknown text has no
// phase rather than a guessed one.

export const FAILURE_PHASES = ['download', 'verify', 'install', 'version', 'self-test'] as const;
export type FailurePhase = (typeof FAILURE_PHASES)[number];

// Most specific first: "self-test failed: install dir missing" is a self-test failure.
const RULES: readonly (readonly [FailurePhase, RegExp])[] = [
  ['self-test', /^self-test\b|\bself-test failed\b|\bhealth check\b/i],
  ['version', /^version\b|\bversion (read back|command|unreadable)\b|\breport version is not conform\b/i],
  ['install', /^install\b|\binstall hook\b|\bburn failed\b|\binstall(ation)? failed\b/i],
  ['verify', /\bdigest\b|\bsignature\b|^verif(y|ication) failed\b|\bchecksum\b/i],
  ['download', /^download\b|\bdownload(ing)? failed\b|\bHTTP \d{3}\b|\bnot https\b/i],
];

/** The phase a FAILED task's desc names, or null (not failed, or a desc that names none). */
export function failurePhaseOf(status: string, desc: string): FailurePhase | null {
  if (status !== 'FAILED' || !desc) return null;
  const text = desc.slice(0, 512);
  for (const [phase, re] of RULES) if (re.test(text)) return phase;
  return null;
}

/** The desc as shown to people, led by its phase unless it already says it. */
export function withPhase(status: string, desc: string): string {
  const phase = failurePhaseOf(status, desc);
  return phase && !desc.toLowerCase().startsWith(phase) ? `${phase}: ${desc}` : desc;
}
