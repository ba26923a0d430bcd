import { defineConfig } from 'vitest/config';

// Integration tests start real servers on loopback; a loaded 2-core machine needs generous limits.
// Tests wait on events, never on sleeps, so these limits only bound a hang.
const jsonReport = process.env.OTA_VITEST_JSON;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Installs (as root) or names the Debian packages the tests need: mosquitto, openssl.
    globalSetup: ['test/setup/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: jsonReport ? ['default', ['json', { outputFile: jsonReport }]] : ['default'],
  },
});
