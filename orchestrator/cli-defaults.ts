// The defaults of ota-verify's flags that a printed command (the re-attach hint) repeats only when
// the user changed them: one place, read by the command line and by the hint.
export const CLI_DEFAULTS = Object.freeze({
  /** Account-wide API requests per second from this process. */
  budget: 8,
  pollMinMs: 1000,
  pollMaxMs: 10_000,
  startTimeoutMinutes: 10,
});
